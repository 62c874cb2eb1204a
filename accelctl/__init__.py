"""accelctl: a terminal cockpit for AI accelerators."""

__version__ = "0.1.0"
