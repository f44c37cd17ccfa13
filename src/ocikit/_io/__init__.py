"""Byte streams and files: the ``Digest`` type, hashing and verifying streams, the one atomic small-file
writer (with directory fsync), direct-I/O and worker-thread helpers, and the ``Progress`` protocol.

The bottom layer above ``errors``/``_config``: it imports nothing else from ocikit.
"""
