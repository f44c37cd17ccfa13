"""Everything about a Kitfile as a document: the typed model, the hardened YAML loader, schema
checks, the config JSON written into the manifest, ``init`` scaffolding, ``.kitignore``, unpack filters,
dependency manifests and MLflow files.

May import ``_io``, ``_oci`` and the foundation; never a storage.
"""
