"""edgeus: compile, quantize, validate and ship universal ultrasound models to edge devices."""

__version__ = "0.1.0"
