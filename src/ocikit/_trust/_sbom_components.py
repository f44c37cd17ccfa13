"""The components of one ModelKit's SBOM, as cyclonedx-python-lib objects: the ModelKit itself (with
its provenance), one per layer (with its files) or Kitfile element, the Python dependencies of
the code layers and, optionally, the packing environment.

What the library cannot model (``modelCard``, component ``data``, the file lists) is collected
here by bom-ref for ``_sbom_build`` to add to the JSON. bom-refs are handed out in call order, so
the builder calls these in a fixed order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ocikit._kitfile._deps import PythonDependency, is_dependency_file, merge, parse_dependency_file
from ocikit._layers._types import FileRecord, PackedLayer
from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._trust._headers import ModelHeader
from ocikit._trust._provenance import PICKLE_FORMATS, git_provenance, pickle_kind
from ocikit._trust._sbom_doc import EXECUTABLE_DESERIALIZATION, P
from ocikit._trust._sbom_files import FileListing
from ocikit._trust._sbom_kitfile import get_attr, model_card, str_or_none
from ocikit._trust._sbom_model import add_to_model_card, header_properties, layer_header
from ocikit.errors import PackError

if TYPE_CHECKING:
    from ocikit._kitfile._model import Kitfile

__all__ = ["Components", "SbomInputs"]

#: Kitfile section → (CycloneDX component type value, bom-ref prefix).
_SECTION_TYPES = {
    "model": ("machine-learning-model", "model"),
    "parts": ("machine-learning-model", "part"),
    "datasets": ("data", "dataset"),
    "code": ("application", "code"),
    "docs": ("file", "docs"),
}


def _license_factory() -> Any:
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib < 11.5
        from cyclonedx.factory.license import LicenseFactory
    return LicenseFactory()


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it stays inside ``root`` (no absolute path, no ``..``), else None."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or "\\" in rel:
        return None
    return root.joinpath(*pure.parts)


@dataclass(frozen=True)
class SbomInputs:
    """What one SBOM is built from: the Kitfile, the layers as written, and where they came from."""

    kitfile: Kitfile
    layers: Sequence[PackedLayer]
    manifest_desc: Descriptor
    reference: Reference | None
    context_dir: Path | None
    include_env: bool
    config: Descriptor | None


class Components:
    """The components of one SBOM build, and the JSON patches for what the library cannot model."""

    def __init__(self, inputs: SbomInputs) -> None:
        self.kitfile = inputs.kitfile
        self.layers = list(inputs.layers)
        self.manifest_desc = inputs.manifest_desc
        self.reference = inputs.reference
        self.context_dir = inputs.context_dir
        self.include_env = inputs.include_env
        self.config = inputs.config
        self.refs: set[str] = set()
        self.model_cards: dict[str, dict[str, Any]] = {}
        self.component_data: dict[str, list[dict[str, Any]]] = {}
        self.dep_sources: dict[str, tuple[str, ...]] = {}
        self.nested_files: dict[str, FileListing] = {}
        self.model_headers: dict[str, ModelHeader | None] = {}  # bom-ref → the weights' headers

    # -- small helpers ------------------------------------------------------------------------

    def _ref(self, wanted: str) -> str:
        ref, n = wanted, 2
        while ref in self.refs:
            ref, n = f"{wanted}-{n}", n + 1
        self.refs.add(ref)
        return ref

    @staticmethod
    def _props(pairs: Mapping[str, str | None]) -> list[Any]:
        from cyclonedx.model import Property

        return [Property(name=k, value=v) for k, v in pairs.items() if v is not None]

    @staticmethod
    def _sha256(hex_digest: str) -> list[Any]:
        from cyclonedx.model import HashAlgorithm, HashType

        return [HashType(alg=HashAlgorithm.SHA_256, content=hex_digest)]

    @staticmethod
    def _licenses(value: Any) -> list[Any]:
        text = str_or_none(value)
        return [_license_factory().make_from_string(text)] if text else []

    def _local(self, path: str) -> Path | None:
        return _inside(self.context_dir, path) if self.context_dir is not None else None

    def _local_str(self, path: str) -> str | None:
        """:meth:`_local` as a string, without path objects for the usual clean tar name."""
        if self.context_dir is None:
            return None
        if (path and not path.startswith(("/", "./")) and "\\" not in path and "//" not in path
                and not path.endswith(("/", "/.")) and "/./" not in path and path != "."
                and ".." not in path.split("/")):
            return f"{self.context_dir}/{path}"
        local = self._local(path)
        return None if local is None else str(local)

    # -- components --------------------------------------------------------------------------

    def modelkit_component(self) -> Any:
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.contact import OrganizationalContact
        from packageurl import PackageURL

        package = get_attr(self.kitfile, "package")
        ref = self.reference
        purl_name = (ref.repository.rsplit("/", 1)[-1] if ref is not None else None) or str_or_none(
            get_attr(package, "name")
        ) or "modelkit"
        qualifiers: dict[str, str] = {}
        if ref is not None and not ref.is_local:
            qualifiers["repository_url"] = ref.name
        if ref is not None and ref.tag:
            qualifiers["tag"] = ref.tag
        purl = PackageURL(type="oci", name=purl_name.lower(), version=str(self.manifest_desc.digest),
                          qualifiers=qualifiers or None)
        props: dict[str, str | None] = {
            f"{P}manifest:digest": str(self.manifest_desc.digest),
            f"{P}manifest:mediaType": self.manifest_desc.media_type,
            f"{P}reference": str(ref) if ref is not None else None,
            f"{P}kitfile:manifestVersion": str_or_none(get_attr(self.kitfile, "manifest_version")),
            f"{P}kitfile:digest": str(self.config.digest) if self.config is not None else None,
        }
        if self.context_dir is not None:
            git = git_provenance(self.context_dir)
            props[f"{P}git:commit"] = git.get("commit")
            props[f"{P}git:dirty"] = git.get("dirty")
        authors = [str(a) for a in (get_attr(package, "authors") or []) if str_or_none(a)]
        return Component(
            # An OCI artifact is a packaging format: CycloneDX "container" ("a packaging and/or
            # runtime format, not specific to any particular technology").
            type=ComponentType.CONTAINER,
            bom_ref=self._ref("modelkit"),
            name=str_or_none(get_attr(package, "name")) or purl_name,
            version=str_or_none(get_attr(package, "version")) or (ref.tag if ref is not None else None),
            description=str_or_none(get_attr(package, "description")),
            licenses=self._licenses(get_attr(package, "license")),
            authors=[OrganizationalContact(name=a) for a in authors] or None,
            purl=purl,
            hashes=self._sha256(self.manifest_desc.digest.hex),
            properties=self._props(props),
        )

    def _element(self, section: str, index: int) -> Any:
        kf = self.kitfile
        model = get_attr(kf, "model")
        try:
            if section == "model":
                return model
            if section == "parts":
                return list(get_attr(model, "parts") or [])[index]
            if section in ("datasets", "code", "docs"):
                return list(get_attr(kf, section) or [])[index]
        except IndexError:
            return None
        return None

    def element_components(self) -> dict[str, tuple[Any, PackedLayer | None]]:
        out: dict[str, tuple[Any, PackedLayer | None]] = {}
        for layer in self.layers:
            element = self._element(layer.section, layer.index)
            comp = self._layer_component(layer, element)
            out[str(comp.bom_ref.value)] = (comp, layer)
        model = get_attr(self.kitfile, "model")
        if model is not None and "model" not in out:
            # the model's path is another ModelKit's reference: no layer here, described anyway
            comp = self._layer_component(None, model)
            out[str(comp.bom_ref.value)] = (comp, None)
        if model is not None and "model" in out:
            self.model_cards["model"] = model_card(model, out)
            add_to_model_card(self.model_cards["model"], self.model_headers.get("model"))
        from ocikit._trust._sbom_remote import remote_dataset_components

        for comp in remote_dataset_components(self.kitfile, self._props):  # kit 1.17 remotePath
            out[str(comp.bom_ref.value)] = (comp, None)
        return out

    def _layer_component(self, layer: PackedLayer | None, element: Any) -> Any:
        """The component of one layer (``element`` is its Kitfile entry), or of a model that is
        another ModelKit's reference (``layer`` None)."""
        from cyclonedx.model.component import Component, ComponentType

        section = layer.section if layer is not None else "model"
        type_value, prefix = _SECTION_TYPES.get(section, ("file", section))
        ref = self._ref(prefix if section == "model" else f"{prefix}-{layer.index if layer else 0}")
        path = layer.path if layer is not None else str_or_none(get_attr(element, "path"))
        name = str_or_none(get_attr(element, "name")) or path or ref
        props: dict[str, str | None] = {f"{P}kitfile:section": section, f"{P}path": path}
        hashes: list[Any] = []
        flagged: list[str] = []
        if layer is not None:
            props.update({
                f"{P}layer:digest": str(layer.descriptor.digest),
                f"{P}layer:mediaType": layer.descriptor.media_type,
                f"{P}layer:size": str(layer.descriptor.size),
                f"{P}layer:diffId": str(layer.diff_id),
                f"{P}layer:files": str(len(layer.files)),
            })
            hashes = self._sha256(layer.descriptor.digest.hex)
            flagged = self._list_files(ref, layer)
        else:
            props[f"{P}model:reference"] = path
        props.update(_element_props(section, element, flagged))
        props.update(header_properties(self.model_headers.get(ref)))
        if section == "datasets":
            self.component_data[ref] = [_dataset_data(name, element)]
        return Component(
            type=ComponentType(type_value),
            bom_ref=ref,
            name=name,
            version=str_or_none(get_attr(element, "version")) if section == "model" else None,
            description=str_or_none(get_attr(element, "description")),
            licenses=self._licenses(get_attr(element, "license")),
            hashes=hashes or None,
            properties=self._props(dict(sorted(props.items()))),
        )

    def _list_files(self, ref: str, layer: PackedLayer) -> list[str]:
        """Keep the file components of ``layer`` (bom-refs under ``ref``) for the JSON; returns
        the pickle-based formats found among its files."""
        records = sorted(layer.files, key=lambda r: r.path)
        if not records:
            return []
        listing = FileListing(records)
        for rec in records:
            kind = pickle_kind(rec.path, self._local_str(rec.path))
            listing.add(self._ref(f"{ref}:{rec.path}"), rec, kind)
        self.nested_files[ref] = listing
        if layer.section in ("model", "parts"):
            self.model_headers[ref] = layer_header(records, self._local_str)
        return sorted({kind[0] for kind in listing.kinds.values()})

    # -- Python dependencies -------------------------------------------------------------------

    def python_dependencies(self) -> tuple[list[PythonDependency], dict[int, list[str]]]:
        found: list[PythonDependency] = []
        files_by_layer: dict[int, set[str]] = {}
        if self.context_dir is not None:
            for layer in self.layers:
                if layer.kind != "code":
                    continue
                paths: set[str] = set()
                for rec in layer.files:
                    if is_dependency_file(rec.path):
                        found.extend(self._read_dependency_file(rec))
                        paths.add(rec.path)
                files_by_layer[id(layer)] = paths
        if self.include_env:
            found.extend(_environment_distributions())
        deps = merge(found)
        self.dep_sources = {self.dep_ref(d): d.sources for d in deps}
        by_layer = {
            key: [self.dep_ref(d) for d in deps if paths & set(d.sources)]
            for key, paths in files_by_layer.items()
        }
        return deps, by_layer

    def _read_dependency_file(self, rec: FileRecord) -> list[PythonDependency]:
        local = self._local(rec.path)
        if local is None or rec.size > 8 * 1024 * 1024:
            return []
        try:
            data = local.read_bytes()
        except OSError as e:
            raise PackError(f"cannot read {rec.path} for the SBOM: {e.strerror or e}") from e
        # the file was hashed while packing; a different hash now means it changed in between
        if hashlib.sha256(data).hexdigest() != rec.sha256:
            raise PackError(
                f"{rec.path} changed while packing (its SHA-256 differs from the packed copy)",
                hint="pack again once nothing writes to the context directory",
            )
        return parse_dependency_file(rec.path, data.decode("utf-8", errors="replace"))

    @staticmethod
    def dep_ref(dep: PythonDependency) -> str:
        return dep.purl if dep.pinned else f"unpinned:pypi/{dep.name}"

    def dependency_component(self, dep: PythonDependency) -> Any:
        from cyclonedx.model.component import Component, ComponentType
        from packageurl import PackageURL

        props: dict[str, str | None] = {
            f"{P}dependency:source": ",".join(dep.sources),
            f"{P}dependency:pinned": "true" if dep.pinned else "false",
            f"{P}dependency:specifier": dep.specifier or None,
            f"{P}dependency:extras": ",".join(dep.extras) or None,
            f"{P}dependency:marker": dep.marker,
            f"{P}dependency:url": dep.url,
        }
        return Component(
            type=ComponentType.LIBRARY,
            bom_ref=self._ref(self.dep_ref(dep)),
            name=dep.name,
            version=dep.version,
            # only a pinned dependency gets a purl: a version-less purl makes scanners guess
            purl=PackageURL(type="pypi", name=dep.name, version=dep.version) if dep.pinned else None,
            properties=self._props(props),
        )

    def environment_component(self) -> Any:
        import platform
        import sys

        from cyclonedx.model.component import Component, ComponentType

        return Component(
            type=ComponentType.PLATFORM,
            bom_ref=self._ref("packing-environment"),
            name=platform.python_implementation().lower(),
            version=platform.python_version(),
            description="The Python environment ocikit packed in",
            properties=self._props({
                f"{P}environment": "packing",
                f"{P}environment:platform": sys.platform,
            }),
        )


def _environment_distributions() -> list[PythonDependency]:
    """The distributions installed in the running interpreter (``importlib.metadata``)."""
    from importlib.metadata import distributions

    from packaging.utils import canonicalize_name

    out = []
    for dist in distributions():
        name, version = dist.metadata["Name"], dist.version
        if not name or not version:
            continue
        out.append(PythonDependency(str(canonicalize_name(name)), version, f"=={version}",
                                    sources=("environment",)))
    return out


def _element_props(section: str, element: Any, flagged: list[str]) -> dict[str, str | None]:
    """The properties a layer component takes from its Kitfile entry, and the pickle flag (set
    when a file is pickle-based, ``flagged``, or the model's ``format`` says so)."""
    props: dict[str, str | None] = {}
    if section == "parts":
        props[f"{P}part:type"] = str_or_none(get_attr(element, "type"))
    if section in ("model", "datasets"):
        params = get_attr(element, "parameters")
        if params is not None:
            props[f"{P}parameters"] = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
    fmt = str_or_none(get_attr(element, "format")) if section == "model" else None
    if fmt is not None and fmt.lower() in PICKLE_FORMATS:
        flagged = sorted({*flagged, fmt.lower()})
    if flagged:
        props[EXECUTABLE_DESERIALIZATION] = "true"
        props[f"{P}security:formats"] = ",".join(flagged)
    return props


def _dataset_data(name: str, element: Any) -> dict[str, Any]:
    """A dataset's CycloneDX ``data`` entry (not modelled by cyclonedx-python-lib 11.x)."""
    data: dict[str, Any] = {"type": "dataset", "name": name}
    description = str_or_none(get_attr(element, "description"))
    if description:
        data["description"] = description
    return data
