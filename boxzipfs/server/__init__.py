"""``boxzipfs serve``: a Box-compatible API server over a local folder.

Separate from the filesystem: it shares only :mod:`boxzipfs.models` and
:mod:`boxzipfs.errors` with the rest of the package.
"""
