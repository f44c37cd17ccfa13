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

    # What type checkers see: the real definitions (at run time the names stay lazy, below).
    # tests/unit/test_typed_api.py keeps this block and _EXPORTS the same.
    from ocikit._client import Client as Client
    from ocikit._config import RegistryOptions as RegistryOptions
    from ocikit._io._digest import Digest as Digest
    from ocikit._io._progress import Progress as Progress
    from ocikit._kitfile._model import Kitfile as Kitfile
    from ocikit._kitfile._scaffold import init as init
    from ocikit._layers._types import Limits as Limits
    from ocikit._oci._model import Descriptor as Descriptor
    from ocikit._oci._model import Manifest as Manifest
    from ocikit._oci._reference import Reference as Reference
    from ocikit._ops._catalog import (
        InspectResult as InspectResult,
    )
    from ocikit._ops._catalog import (
        ModelKitInfo as ModelKitInfo,
    )
    from ocikit._ops._catalog import (
        RemoveEvent as RemoveEvent,
    )
    from ocikit._ops._catalog import (
        inspect as inspect,
    )
    from ocikit._ops._catalog import (
        list_modelkits as list_modelkits,
    )
    from ocikit._ops._catalog import (
        remove as remove,
    )
    from ocikit._ops._catalog import (
        tag as tag,
    )
    from ocikit._ops._diff import DiffResult as DiffResult
    from ocikit._ops._diff import diff as diff
    from ocikit._ops._image import ImageView as ImageView
    from ocikit._ops._image import image_view as image_view
    from ocikit._ops._index import IndexResult as IndexResult
    from ocikit._ops._index import VariantSpec as VariantSpec
    from ocikit._ops._index import index_add as index_add
    from ocikit._ops._index import index_create as index_create
    from ocikit._ops._index import index_inspect as index_inspect
    from ocikit._ops._index import index_pull as index_pull
    from ocikit._ops._index import index_remove as index_remove
    from ocikit._ops._lineage import Lineage as Lineage
    from ocikit._ops._lineage import lineage as lineage
    from ocikit._ops._pack import PackResult as PackResult
    from ocikit._ops._pack import pack as pack
    from ocikit._ops._pack_plan import PackPlan as PackPlan
    from ocikit._ops._pack_plan import plan_pack as plan_pack
    from ocikit._ops._stages import history as history
    from ocikit._ops._stages import promote as promote
    from ocikit._ops._stages import rollback as rollback
    from ocikit._ops._stages import stages as stages
    from ocikit._ops._transfer import pull as pull
    from ocikit._ops._transfer import push as push
    from ocikit._ops._trust import attest as attest
    from ocikit._ops._trust import sbom as sbom
    from ocikit._ops._trust import sign as sign
    from ocikit._ops._trust import verify as verify
    from ocikit._ops._trust import verify_attestation as verify_attestation
    from ocikit._ops._types import Compression as Compression
    from ocikit._ops._types import Format as Format
    from ocikit._ops._unpack import UnpackResult as UnpackResult
    from ocikit._ops._unpack import unpack as unpack
    from ocikit._ops._unpack_file import FetchedFile as FetchedFile
    from ocikit._ops._unpack_file import unpack_files as unpack_files
    from ocikit._stages._event import StageEvent as StageEvent
    from ocikit._stages._event import StageStatus as StageStatus
    from ocikit._stages._gates import Policy as Policy
    from ocikit._store._copy import TransferResult as TransferResult
    from ocikit._store._copy import copy as copy
    from ocikit._store._fsck import FsckReport as FsckReport
    from ocikit._store._fsck import fsck as fsck
    from ocikit._store._gc import GcReport as GcReport
    from ocikit._store._gc import gc as gc
    from ocikit._store._layout import LocalStore as LocalStore
    from ocikit._store._storage import MemoryStorage as MemoryStorage
    from ocikit._store._storage import Storage as Storage
    from ocikit._trust._attest import AttestationResult as AttestationResult
    from ocikit._trust._bundle_oci import BundleSignResult as BundleSignResult
    from ocikit._trust._bundle_oci import BundleVerifyResult as BundleVerifyResult
    from ocikit._trust._signing import (
        SignResult as SignResult,
    )
    from ocikit._trust._signing import (
        VerifiedSignature as VerifiedSignature,
    )
    from ocikit._trust._signing import (
        VerifyResult as VerifyResult,
    )
    from ocikit._trust._signing import (
        keygen as keygen,
    )
    from ocikit._trust._verify_files import VerifyFilesResult as VerifyFilesResult
    from ocikit._trust._verify_files import verify_files as verify_files


#: public name → private module that defines it
_EXPORTS: dict[str, str] = {
    "Client": "ocikit._client",
    "RegistryOptions": "ocikit._config",
    "Digest": "ocikit._io._digest",
    "Progress": "ocikit._io._progress",
    "Kitfile": "ocikit._kitfile._model",
    "init": "ocikit._kitfile._scaffold",
    "Limits": "ocikit._layers._types",
    "Descriptor": "ocikit._oci._model",
    "Manifest": "ocikit._oci._model",
    "Reference": "ocikit._oci._reference",
    "InspectResult": "ocikit._ops._catalog",
    "ModelKitInfo": "ocikit._ops._catalog",
    "RemoveEvent": "ocikit._ops._catalog",
    "inspect": "ocikit._ops._catalog",
    "list_modelkits": "ocikit._ops._catalog",
    "remove": "ocikit._ops._catalog",
    "tag": "ocikit._ops._catalog",
    "DiffResult": "ocikit._ops._diff",
    "diff": "ocikit._ops._diff",
    "ImageView": "ocikit._ops._image",
    "image_view": "ocikit._ops._image",
    "IndexResult": "ocikit._ops._index",
    "VariantSpec": "ocikit._ops._index",
    "index_add": "ocikit._ops._index",
    "index_create": "ocikit._ops._index",
    "index_inspect": "ocikit._ops._index",
    "index_pull": "ocikit._ops._index",
    "index_remove": "ocikit._ops._index",
    "Lineage": "ocikit._ops._lineage",
    "lineage": "ocikit._ops._lineage",
    "PackResult": "ocikit._ops._pack",
    "pack": "ocikit._ops._pack",
    "PackPlan": "ocikit._ops._pack_plan",
    "plan_pack": "ocikit._ops._pack_plan",
    "history": "ocikit._ops._stages",
    "promote": "ocikit._ops._stages",
    "rollback": "ocikit._ops._stages",
    "stages": "ocikit._ops._stages",
    "pull": "ocikit._ops._transfer",
    "push": "ocikit._ops._transfer",
    "sbom": "ocikit._ops._trust",
    "sign": "ocikit._ops._trust",
    "attest": "ocikit._ops._trust",
    "verify_attestation": "ocikit._ops._trust",
    "verify": "ocikit._ops._trust",
    "Compression": "ocikit._ops._types",
    "Format": "ocikit._ops._types",
    "UnpackResult": "ocikit._ops._unpack",
    "unpack": "ocikit._ops._unpack",
    "FetchedFile": "ocikit._ops._unpack_file",
    "unpack_files": "ocikit._ops._unpack_file",
    "StageEvent": "ocikit._stages._event",
    "StageStatus": "ocikit._stages._event",
    "Policy": "ocikit._stages._gates",
    "TransferResult": "ocikit._store._copy",
    "copy": "ocikit._store._copy",
    "FsckReport": "ocikit._store._fsck",
    "fsck": "ocikit._store._fsck",
    "GcReport": "ocikit._store._gc",
    "gc": "ocikit._store._gc",
    "LocalStore": "ocikit._store._layout",
    "MemoryStorage": "ocikit._store._storage",
    "Storage": "ocikit._store._storage",
    "AttestationResult": "ocikit._trust._attest",
    "BundleSignResult": "ocikit._trust._bundle_oci",
    "BundleVerifyResult": "ocikit._trust._bundle_oci",
    "SignResult": "ocikit._trust._signing",
    "VerifiedSignature": "ocikit._trust._signing",
    "VerifyResult": "ocikit._trust._signing",
    "keygen": "ocikit._trust._signing",
    "VerifyFilesResult": "ocikit._trust._verify_files",
    "verify_files": "ocikit._trust._verify_files",
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

