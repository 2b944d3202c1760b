"""The library version (one place; the package metadata and checkpoints read it)."""

__version__ = "0.2.0"
