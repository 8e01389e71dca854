"""Layer 7, data: the UUSIC25 folder/JSON layout and its reader, the phantom generator, calibration plans and
the provenance record of a build's data.

May import contracts, models, util, errors.
"""
