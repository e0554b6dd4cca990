"""boxzipfs: Box zip downloads as ordinary files, plus a Box-compatible local server."""

__version__ = "0.1.0"
