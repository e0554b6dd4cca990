"""The ``boxzipfs`` commands: argument parsing, and the small front ends of
``status``, ``ls``, ``request`` and the fstab helper form."""
