"""``ocikit.Client``: one object that carries the home, the registry options and the transport.

The module-level functions (``ocikit.pack``, ``ocikit.push``, …) take ``home=`` and ``options=`` on
every call; a release script or a training job that makes many calls holds a ``Client`` instead,
in the spirit of ``mlflow.MlflowClient``. Each method is the module-level function with those two
arguments filled in, nothing more: behaviour, results and errors are the same.

``transport`` is the HTTP seam (``ocikit._registry._http.Transport``: ``request(method, url, *,
headers, body) -> Response``). Pass a fake one to test a script against an in-process registry;
by default ocikit uses urllib3 with the TLS settings of ``options``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ocikit._config import RegistryOptions, home_dir
from ocikit._io._progress import SILENT, Progress
from ocikit._kitfile._model import Kitfile
from ocikit._oci._reference import Reference
from ocikit._ops import _catalog, _diff, _lineage, _pack, _pack_plan, _transfer, _unpack
from ocikit._ops import _stages as _stage_ops
from ocikit._ops import _trust as _trust_ops
from ocikit._store._fsck import fsck
from ocikit._store._gc import gc

if TYPE_CHECKING:
    from ocikit._io._digest import Digest
    from ocikit._layers._types import Limits
    from ocikit._ops._catalog import InspectResult, ModelKitInfo, RemoveEvent
    from ocikit._ops._diff import DiffResult
    from ocikit._ops._image import ImageView
    from ocikit._ops._index import IndexResult, VariantSpec
    from ocikit._ops._lineage import Lineage
    from ocikit._ops._pack import PackResult
    from ocikit._ops._pack_plan import PackPlan
    from ocikit._ops._types import Compression, Format, LayerFormat
    from ocikit._ops._unpack import UnpackResult
    from ocikit._registry._http import Transport
    from ocikit._stages._event import StageEvent, StageStatus
    from ocikit._stages._gates import Policy
    from ocikit._store._copy import TransferResult
    from ocikit._store._fsck import FsckReport
    from ocikit._store._gc import GcReport
    from ocikit._trust._attest import AttestationResult
    from ocikit._trust._bundle_oci import BundleSignResult, BundleVerifyResult
    from ocikit._trust._signing import SignResult, VerifyResult

__all__ = ["Client"]

_Path = str | os.PathLike[str]


class Client:
    """ocikit's operations bound to one home directory, registry options and transport."""

    def __init__(
        self,
        home: _Path | None = None,
        options: RegistryOptions | None = None,
        *,
        transport: Transport | None = None,
    ) -> None:
        self.home: Path = home_dir(home)
        opts = options or RegistryOptions()
        self.options: RegistryOptions = opts if transport is None else dataclasses.replace(opts, transport=transport)

    def __repr__(self) -> str:
        return f"Client(home={str(self.home)!r})"

    # -- packing and unpacking --------------------------------------------------------------------

    def pack(
        self,
        context: _Path,
        *,
        tag: str | Sequence[str] | None = None,
        kitfile: _Path | Kitfile | None = None,
        compression: Compression = "none",
        sbom: bool = True,
        sbom_env: bool = False,
        sign_key: _Path | None = None,
        progress: Progress = SILENT,
        format: Format = "kitops",
        layer_format: LayerFormat = "tar",
        provenance: bool = False,
    ) -> PackResult:
        """``ocikit.pack`` into this client's store."""
        return _pack.pack(context, tag=tag, kitfile=kitfile, compression=compression, home=self.home, sbom=sbom,
                          sbom_env=sbom_env, sign_key=sign_key, progress=progress, options=self.options,
                          format=format, layer_format=layer_format, provenance=provenance)

    def plan_pack(
        self,
        context: _Path,
        *,
        tag: str | Sequence[str] | None = None,
        kitfile: _Path | Kitfile | None = None,
        compression: Compression = "none",
        format: Format = "kitops",
        layer_format: LayerFormat = "tar",
    ) -> PackPlan:
        """``ocikit.plan_pack``: what ``pack`` would write, writing nothing."""
        return _pack_plan.plan_pack(context, tag=tag, kitfile=kitfile, compression=compression, home=self.home,
                                    options=self.options, format=format, layer_format=layer_format)

    def unpack(
        self,
        reference: str | Reference,
        target: _Path,
        *,
        filters: str | Iterable[str] | None = (),
        overwrite: bool = False,
        ignore_existing: bool = False,
        verify_key: _Path | None = None,
        progress: Progress = SILENT,
        limits: Limits | None = None,
        include_remote: bool = False,
        select: Iterable[str] = (),
    ) -> UnpackResult:
        """``ocikit.unpack`` with this client's store and registry options."""
        return _unpack.unpack(reference, target, filters=filters, overwrite=overwrite,
                              ignore_existing=ignore_existing, home=self.home, options=self.options,
                              verify_key=verify_key, progress=progress, limits=limits,
                              include_remote=include_remote, select=select)

    # -- moving between the store and registries -------------------------------------------------

    def push(self, source: str, destination: str | None = None, *, tags: Sequence[str] = (),
             progress: Progress = SILENT, with_image: str | None = None) -> TransferResult:
        """``ocikit.push`` from this client's store."""
        return _transfer.push(source, destination, tags=tags, home=self.home, options=self.options,
                              progress=progress, with_image=with_image)

    def pull(self, reference: str, *, progress: Progress = SILENT,
             verify_key: _Path | None = None, select: Sequence[str] = ()) -> TransferResult:
        """``ocikit.pull`` into this client's store."""
        return _transfer.pull(reference, home=self.home, options=self.options, progress=progress,
                              verify_key=verify_key, select=select)

    # -- ModelKit indexes (docs/model-index.md) --------------------------------------------------

    def index_create(self, reference: str, variants: Sequence[VariantSpec] = (), *,
                     annotations: Mapping[str, str] | None = None) -> IndexResult:
        """``ocikit.index_create`` in this client's store."""
        from ocikit._ops import _index

        return _index.index_create(reference, variants, annotations=annotations, home=self.home)

    def index_add(self, reference: str, variants: Sequence[VariantSpec]) -> IndexResult:
        """``ocikit.index_add`` in this client's store."""
        from ocikit._ops import _index

        return _index.index_add(reference, variants, home=self.home)

    def index_remove(self, reference: str, digests: Sequence[str]) -> IndexResult:
        """``ocikit.index_remove`` in this client's store."""
        from ocikit._ops import _index

        return _index.index_remove(reference, digests, home=self.home)

    def index_inspect(self, reference: str) -> IndexResult:
        """``ocikit.index_inspect`` (this client's store, or the registry by docker's rule)."""
        from ocikit._ops import _index

        return _index.index_inspect(reference, home=self.home, options=self.options)

    def index_pull(self, reference: str, *, progress: Progress = SILENT) -> TransferResult:
        """``ocikit.index_pull``: the index with all its variants into this client's store."""
        from ocikit._ops import _index

        return _index.index_pull(reference, home=self.home, options=self.options, progress=progress)

    def image_view(self, source: str, image: str, *, platform: str = "linux/amd64",
                   progress: Progress = SILENT, limits: Limits | None = None) -> ImageView:
        """``ocikit.image_view``: the OCI image view of a ModelKit, sharing its layer blobs."""
        from ocikit._ops._image import image_view

        return image_view(source, image, platform=platform, home=self.home, options=self.options,
                          progress=progress, limits=limits)

    # -- the store --------------------------------------------------------------------------------

    def list_modelkits(self, repository: str | None = None) -> list[ModelKitInfo]:
        """``ocikit.list_modelkits``."""
        return _catalog.list_modelkits(repository, home=self.home, options=self.options)

    def inspect(self, reference: str | Reference, *, remote: bool = False) -> InspectResult:
        """``ocikit.inspect``."""
        return _catalog.inspect(reference, remote=remote, home=self.home, options=self.options)

    def tag(self, source: str | Reference, target: str | Reference) -> Reference:
        """``ocikit.tag`` (local store only, as ``kit tag``)."""
        return _catalog.tag(source, target, home=self.home)

    def remove(self, reference: str | None = None, *, all_untagged: bool = False, force: bool = False,
               remote: bool = False) -> list[RemoveEvent]:
        """``ocikit.remove``."""
        return _catalog.remove(reference, all_untagged=all_untagged, force=force, remote=remote,
                               home=self.home, options=self.options)

    def diff(self, a: str | Reference, b: str | Reference) -> DiffResult:
        """``ocikit.diff``."""
        return _diff.diff(a, b, home=self.home, options=self.options)

    def lineage(self, repository: str | Reference) -> Lineage:
        """``ocikit.lineage``."""
        return _lineage.lineage(repository, home=self.home, options=self.options)

    def fsck(self, *, repair: bool = False, stale_seconds: float = 3600) -> FsckReport:
        """``ocikit.fsck`` of this client's store."""
        return fsck(self.home, repair, stale_seconds=stale_seconds)

    def gc(self, *, dry_run: bool = False, grace_seconds: int = 600) -> GcReport:
        """``ocikit.gc`` of this client's store."""
        return gc(self.home, dry_run, grace_seconds)

    # -- trust ------------------------------------------------------------------------------------

    def sign(self, reference: str | Reference, key: _Path, *, password: str | bytes | None = None,
             annotations: Mapping[str, str] | None = None,
             format: str = "bundle") -> SignResult | BundleSignResult:
        """``ocikit.sign``."""
        return _trust_ops.sign(reference, key, password=password, annotations=annotations, format=format,
                               home=self.home, options=self.options)

    def attest(self, reference: str | Reference, key: _Path, predicate: _Path, *, type: str,
               password: str | bytes | None = None) -> BundleSignResult:
        """``ocikit.attest``."""
        return _trust_ops.attest(reference, key, predicate, type=type, password=password, home=self.home,
                                 options=self.options)

    def verify_attestation(self, reference: str | Reference, key: _Path, *,
                           type: str | None = None) -> AttestationResult:
        """``ocikit.verify_attestation``."""
        return _trust_ops.verify_attestation(reference, key, type=type, home=self.home, options=self.options)

    def verify(self, reference: str | Reference, key: _Path, *,
               annotations: Mapping[str, str] | None = None) -> VerifyResult | BundleVerifyResult:
        """``ocikit.verify``."""
        return _trust_ops.verify(reference, key, annotations=annotations, home=self.home, options=self.options)

    def sbom(self, reference: str, *, select: Sequence[str] = ()) -> bytes:
        """``ocikit.sbom``: the CycloneDX JSON attached to the ModelKit (or the selected variant)."""
        return _trust_ops.sbom(reference, home=self.home, options=self.options, select=select)

    # -- stages -----------------------------------------------------------------------------------

    def promote(
        self,
        reference: str | Reference,
        stage: str,
        *,
        reason: str,
        actor: str | None = None,
        require: Sequence[str] = (),
        policy: Policy | _Path | None = None,
        key: _Path | None = None,
        password: str | bytes | None = None,
        new_stage: bool = False,
        allow_broken_history: bool = False,
        with_image: bool = False,
    ) -> StageEvent:
        """``ocikit.promote``."""
        return _stage_ops.promote(reference, stage, reason=reason, actor=actor, require=require, policy=policy,
                                  key=key, password=password, home=self.home, options=self.options,
                                  new_stage=new_stage, allow_broken_history=allow_broken_history,
                                  with_image=with_image)

    def rollback(
        self,
        repository: str | Reference,
        stage: str,
        *,
        to: Digest | str | None = None,
        reason: str,
        actor: str | None = None,
        policy: Policy | _Path | None = None,
        key: _Path | None = None,
        password: str | bytes | None = None,
    ) -> StageEvent:
        """``ocikit.rollback``."""
        return _stage_ops.rollback(repository, stage, to=to, reason=reason, actor=actor, policy=policy, key=key,
                                   password=password, home=self.home, options=self.options)

    def stages(self, repository: str | Reference) -> list[StageStatus]:
        """``ocikit.stages``."""
        return _stage_ops.stages(repository, home=self.home, options=self.options)

    def history(self, repository: str | Reference, stage: str, *, verify: bool = False,
                key: _Path | None = None) -> list[StageEvent]:
        """``ocikit.history``."""
        return _stage_ops.history(repository, stage, verify=verify, key=key, home=self.home, options=self.options)
