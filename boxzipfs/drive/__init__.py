"""What the mount offers, without FUSE: request directories, their definitions,
archives and status documents, and the one table from errors to errno."""
