"""File -> picture: the restoration by the network a file names, the DCT consistency step and the
restoration strength."""
