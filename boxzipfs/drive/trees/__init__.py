"""The mount's top-level trees, one module each, behind :class:`~boxzipfs.drive.trees.base.Tree`.

``requests`` (the user's request directories, the one tree that takes writes),
``byid`` (by-id/), ``browse`` (browse/) and ``archives`` (archives/); ``requestdirs``
and ``mirror`` hold what two trees share. :mod:`boxzipfs.drive.view` routes to them.
"""
