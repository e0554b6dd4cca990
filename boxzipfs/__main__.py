"""Allow ``python -m boxzipfs``."""

from boxzipfs.cli import main

raise SystemExit(main())
