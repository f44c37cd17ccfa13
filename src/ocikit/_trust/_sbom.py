"""CycloneDX 1.6 ML-BOM for a ModelKit: build, attach as an OCI 1.1 referrer, find, verify files.

What the SBOM holds (details in ``docs/sbom.md``):

* ``metadata.component`` — the ModelKit itself: a ``pkg:oci`` purl whose version is the manifest
  digest (https://github.com/package-url/purl-spec, type ``oci``), name/version/authors/license from
  the Kitfile ``package``, provenance properties (git commit and dirty flag, Kitfile digest).
* one component per layer — the model (``machine-learning-model`` with a ``modelCard``), its parts,
  each dataset (``data`` with ``data[]``), code (``application``) and docs (``file``) — hashed with the
  layer digest, holding one nested ``file`` component per packed file with its SHA-256;
* the Python dependencies declared in the code layers (``_deps``), optionally the packing environment;
* a ``dependencies`` graph tying them together.

This module is the SBOM's storage-level API, the names the other layers use; the work is done in

* ``_sbom_build`` (the document) from ``_sbom_components`` (its components), ``_sbom_kitfile``
  (Kitfile values, the model card), ``_sbom_files`` (the file lists), ``_provenance`` (git, pickle)
  and ``_sbom_model`` (what the weights' headers say, read by ``_headers``);
* ``_sbom_validate`` (the strict 1.6 schema), ``_sbom_doc`` (the names, reading a document back);
* ``_sbom_parents`` (a derived ModelKit's parents' files), ``_sbom_store`` (the referrer),
  ``_verify_files`` (an unpacked directory against its SBOM).

The SBOM of a reference is ``ocikit._ops._trust.sbom``.
"""

from __future__ import annotations

from ocikit._trust._sbom_build import build_sbom
from ocikit._trust._sbom_doc import EXECUTABLE_DESERIALIZATION, SBOM_MEDIA_TYPE
from ocikit._trust._sbom_parents import inherit_parent_files
from ocikit._trust._sbom_store import attach_sbom, find_sbom
from ocikit._trust._verify_files import VerifyFilesResult, verify_files

__all__ = [
    "EXECUTABLE_DESERIALIZATION",
    "SBOM_MEDIA_TYPE",
    "VerifyFilesResult",
    "attach_sbom",
    "build_sbom",
    "find_sbom",
    "inherit_parent_files",
    "verify_files",
]
