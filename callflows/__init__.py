"""Callflows: answer call-center phone calls with small per-vertical models on CPUs."""

__version__ = "0.1.0"
