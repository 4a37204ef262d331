"""Picture -> file: the file makers, the decoder-aware coefficient search, auto mode, quality targets
and per-image quality allocation. Settings travel as one `EncodeOptions` (codec.encoder.options)."""
