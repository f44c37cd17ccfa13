"""Where manifests and blobs live: the ``Storage`` protocol with the in-memory storage, the local OCI image
layout, referrers (native API or the ``sha256-<hex>`` fallback tag), ``copy`` between any two storages,
and the store's fsck/gc.

May import ``_io``, ``_oci``, ``_layers`` and below; never the registry client, which is one more ``Storage``.
"""
