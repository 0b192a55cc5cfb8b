"""Shanyraq: photo scoring and welfare fusion for targeted social assistance (advisory only)."""

__version__ = "0.1.0"
