"""Operations on references: the one layer that turns a reference into storages (``locate``,
``open_repository``, the cache-through ``CachedRepository``) and runs the feature below on them: pack,
unpack, push/pull, list/inspect/tag/remove, diff, lineage, and the reference-level sign, verify,
SBOM and stage commands. The CLI and the public facade call this layer.

May import every layer below.
"""
