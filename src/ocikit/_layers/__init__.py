"""Layer archives: the deterministic tar writer that hashes while it writes (layer digest, diffId and
each file's SHA-256 in one pass), compression, the strict bounded tar reader and the safe extractor.

May import ``_io``, ``_oci``, ``_kitfile`` and the foundation; it knows nothing of storages.
"""
