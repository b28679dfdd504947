"""The ``trionet`` command line and its demo: ``python -m trionet`` runs ``main``."""

from __future__ import annotations

from ._main import main as main

__all__ = ["main"]
