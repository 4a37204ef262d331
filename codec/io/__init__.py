"""Reading images and writing files: any input to 8-bit RGB, safe atomic output, C libraries' messages."""
