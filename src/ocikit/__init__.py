"""ocikit: package machine-learning projects as OCI artifacts (KitOps ModelKits).

The public API is what ``__all__`` lists; everything in a module whose name starts with ``_`` is
private. Names are imported lazily so ``import ocikit`` is cheap::

    import ocikit

    kitfile = ocikit.Kitfile.load("project/Kitfile")
    result = ocikit.pack("project", tag="acme/sentiment:1.0.0")
    ocikit.push("acme/sentiment:1.0.0", "registry.example/acme/sentiment:1.0.0")
    ocikit.unpack("registry.example/acme/sentiment:1.0.0", "serve", filters=["model"])

Errors are the tree in :mod:`ocikit.errors`.
"""

from __future__ import annotations

import importlib

from ocikit._version import __version__

# typing costs ~5 ms to import; `ocikit --help` must not pay it (docs/performance.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: public name → private module that defines it
_EXPORTS: dict[str, str] = {
    "Digest": "ocikit._io._digest",
    "Reference": "ocikit._oci._reference",
    "Descriptor": "ocikit._oci._model",
    "Manifest": "ocikit._oci._model",
    "RegistryOptions": "ocikit._config",
    "Kitfile": "ocikit._kitfile._model",
    "LocalStore": "ocikit._store._layout",
    "pack": "ocikit._ops._pack",
    "PackResult": "ocikit._ops._pack",
    "unpack": "ocikit._ops._unpack",
    "UnpackResult": "ocikit._ops._unpack",
    "push": "ocikit._ops._transfer",
    "pull": "ocikit._ops._transfer",
    "TransferResult": "ocikit._ops._transfer",
    "keygen": "ocikit._trust._signing",
    "sign": "ocikit._ops._trust",
    "verify": "ocikit._ops._trust",
    "SignResult": "ocikit._trust._signing",
    "VerifyResult": "ocikit._trust._signing",
    "VerifiedSignature": "ocikit._trust._signing",
    "sbom": "ocikit._ops._trust",
    "verify_files": "ocikit._trust._sbom",
    "VerifyFilesResult": "ocikit._trust._sbom",
    "promote": "ocikit._ops._stages",
    "rollback": "ocikit._ops._stages",
    "history": "ocikit._ops._stages",
    "diff": "ocikit._ops._diff",
    "DiffResult": "ocikit._ops._diff",
    "lineage": "ocikit._ops._lineage",
    "Lineage": "ocikit._ops._lineage",
    "stages": "ocikit._ops._stages",
    "StageEvent": "ocikit._stages._event",
    "StageStatus": "ocikit._stages._event",
    "Policy": "ocikit._stages._gates",
    "Progress": "ocikit._io._progress",
    "Limits": "ocikit._layers._types",
    "init": "ocikit._kitfile._scaffold",
    "list_modelkits": "ocikit._ops._catalog",
    "inspect": "ocikit._ops._catalog",
    "tag": "ocikit._ops._catalog",
    "remove": "ocikit._ops._catalog",
    "fsck": "ocikit._store._fsck",
    "gc": "ocikit._store._fsck",
    "FsckReport": "ocikit._store._fsck",
    "GcReport": "ocikit._store._fsck",
    "InspectResult": "ocikit._ops._catalog",
    "ModelKitInfo": "ocikit._ops._catalog",
    "RemoveEvent": "ocikit._ops._catalog",
}

__all__ = ["__version__", "errors", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("ocikit.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ocikit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

