"""Vexa Lite: ingest, store and stream meeting recordings."""

__version__ = "0.1.0"
