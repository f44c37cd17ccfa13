"""The OCI data model as typed values: references, descriptors, manifests, indexes, media types and
the Go-compatible JSON encoding that makes our bytes match the Go tools' bytes.

May import ``_io`` and the foundation (``errors``, ``_config``) only; it does no I/O.
"""
