"""OpenKMS: volume activation on the model of a Key Management Service."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
