"""Trust in a ModelKit: key pairs, cosign-compatible signing and verification of manifest digests, and
the CycloneDX SBOM (build, provenance, validation, attach as a referrer, verify unpacked files).

Functions here take a ``Storage``, never a reference: opening storages is ``_ops``'s job (the
reference-level ``sign``, ``verify`` and ``sbom`` are in ``_ops._trust``). May import ``_modelkit``
and below.
"""
