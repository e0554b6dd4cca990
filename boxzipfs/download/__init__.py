"""The download machinery: one Box stream per archive, a bounded buffer into a
disk spool, sharing between readers, a queue of download slots, and the cache of
completed archives. Nothing here knows about FUSE."""
