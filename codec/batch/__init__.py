"""Many files: inputs and tree mirroring, the worker pool, Dask, one-file work for the CLI, `estimate`."""
