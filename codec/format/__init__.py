"""The file: JPEG coding, quantization tables, the metadata segment, lossless shrinking and packing.

The bottom layer above io and utils: nothing here runs a network (docs/architecture.md)."""
