"""The FUSE skin and the daemon process: paths to drive calls, handles to
readers, the mount's life (locks, readiness, unmount), and the embedded server
child. The only package that imports fuse."""
