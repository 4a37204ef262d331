"""regen-codec's benchmarks and calibrations (not part of the installed package).

Run them from the repository root as modules, `.venv/bin/python -m bench.NAME` (experiments:
`-m bench.experiments.NAME`); bench/README.md lists them."""
