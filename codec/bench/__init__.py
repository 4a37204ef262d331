"""`regen-codec bench` (measure, report) and the library of the calibrations behind shipped constants."""
