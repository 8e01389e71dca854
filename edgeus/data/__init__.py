"""Data: the UUSIC25 folder/JSON layout, the phantom generator, calibration sampling."""
