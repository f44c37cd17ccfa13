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

# typing costs ~5 ms to import; `ocikit --help` must not pay it (docs/performance.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

#: public name → private module that defines it
_EXPORTS: dict[str, str] = {
    "Digest": "ocikit._digest",
    "Reference": "ocikit._reference",
    "Descriptor": "ocikit._oci",
    "Manifest": "ocikit._oci",
    "RegistryOptions": "ocikit._config",
    "Kitfile": "ocikit._kitfile",
    "LocalStore": "ocikit._layout",
    "pack": "ocikit._pack",
    "PackResult": "ocikit._pack",
    "unpack": "ocikit._unpack",
    "UnpackResult": "ocikit._unpack",
    "push": "ocikit._transfer",
    "pull": "ocikit._transfer",
    "TransferResult": "ocikit._transfer",
    "keygen": "ocikit._signing",
    "sign": "ocikit._signing",
    "verify": "ocikit._signing",
    "SignResult": "ocikit._signing",
    "VerifyResult": "ocikit._signing",
    "VerifiedSignature": "ocikit._signing",
    "sbom": "ocikit._sbom",
    "verify_files": "ocikit._sbom",
    "VerifyFilesResult": "ocikit._sbom",
    "promote": "ocikit._stages",
    "rollback": "ocikit._stages",
    "history": "ocikit._stages",
    "diff": "ocikit._diff",
    "DiffResult": "ocikit._diff",
    "lineage": "ocikit._lineage",
    "Lineage": "ocikit._lineage",
    "stages": "ocikit._stages",
    "StageEvent": "ocikit._stages",
    "StageStatus": "ocikit._stages",
    "Policy": "ocikit._gates",
    "Progress": "ocikit._progress",
    "Limits": "ocikit._layers",
    "init": "ocikit._init",
    "list_modelkits": "ocikit._catalog",
    "inspect": "ocikit._catalog",
    "tag": "ocikit._catalog",
    "remove": "ocikit._catalog",
    "fsck": "ocikit._fsck",
    "gc": "ocikit._fsck",
    "FsckReport": "ocikit._fsck",
    "GcReport": "ocikit._fsck",
    "InspectResult": "ocikit._catalog",
    "ModelKitInfo": "ocikit._catalog",
    "RemoveEvent": "ocikit._catalog",
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

