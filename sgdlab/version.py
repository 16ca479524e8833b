"""The one source of sgdlab's version."""

__version__ = "0.1.0"
