"""Allow ``python -m boxzipfs``."""

from boxzipfs.cli.main import main

raise SystemExit(main())
