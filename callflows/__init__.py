"""Callflows: answer call-center phone calls with small per-vertical models on CPUs."""

from callflows.plugins.finder import install as _install_vertical_finder

__version__ = "0.1.0"

# `import callflows_verticals.<name>` finds a folder vertical's code (callflows/plugins/finder.py)
_install_vertical_finder()
