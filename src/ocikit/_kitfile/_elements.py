"""What a Kitfile says, as frozen values: the package, the model and its parts, code, datasets and
docs, and the views derived from them (which elements become layers, a parent ModelKit reference).

:class:`KitfileContent` holds the fields; ``_model.Kitfile`` adds reading and writing it in each of
its forms, and the modules that own those forms (``_dump``, ``_config_json``, ``_paths``) take a
``KitfileContent``, so none of them needs the class that calls them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference
from ocikit.errors import InvalidReference, OcikitError

__all__ = [
    "Code",
    "DataSet",
    "Docs",
    "KitfileContent",
    "LayerElement",
    "LayerInfo",
    "MCPServer",
    "Model",
    "ModelPart",
    "Package",
    "Prompt",
    "is_modelkit_reference",
]


@dataclass(frozen=True)
class Package:
    name: str | None = None
    version: str | None = None
    description: str | None = None
    license: str | None = None
    authors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelPart:
    name: str | None = None
    path: str | None = None
    license: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class Model:
    name: str | None = None
    path: str | None = None
    license: str | None = None
    framework: str | None = None
    format: str | None = None
    version: str | None = None
    description: str | None = None
    parts: tuple[ModelPart, ...] = ()
    parameters: Any = None


@dataclass(frozen=True)
class Code:
    path: str | None = None
    description: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class DataSet:
    name: str | None = None
    path: str | None = None
    description: str | None = None
    license: str | None = None
    parameters: Any = None
    #: kit 1.17 remote datasets: an object referred to, not packed (``_ops/_remote_datasets``).
    remote_path: str | None = None
    remote_hash: str | None = None


@dataclass(frozen=True)
class Docs:
    path: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Prompt:
    """kit 1.17 ``prompts[]``: packed as a ``code`` layer marked ``ml.kitops.modelkit.layer-subtype: prompt``."""

    name: str | None = None
    path: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class MCPServer:
    """kit 1.17 ``mcpServers[]``: one ``.mcpb`` file, stored verbatim as one ``mcpb`` raw layer."""

    name: str | None = None
    path: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class LayerInfo:
    """What the config blob records per layer: the blob digest and the uncompressed tar's digest."""

    digest: Digest
    diff_id: Digest


@dataclass(frozen=True)
class LayerElement:
    """One Kitfile element that becomes one layer.

    ``kind`` is the media-type base (``model``, ``modelpart``, ``code``, ``dataset``, ``docs``, ``mcpb``;
    ``prompt`` is a ``code`` layer with the prompt subtype annotation);
    ``section`` and ``index`` key ``to_config_json``'s ``layer_infos``; ``path`` is verbatim.
    """

    kind: str
    section: str
    index: int
    path: str

    @property
    def field(self) -> str:
        """The element's field path for messages, e.g. ``model.parts[1]``."""
        return _element_field(self.section, self.index)


def _element_field(section: str, index: int) -> str:
    if section == "model":
        return "model"
    if section == "parts":
        return f"model.parts[{index}]"
    return f"{section}[{index}]"


def is_modelkit_reference(path: str | None) -> bool:
    """True if a ``model.path`` names another ModelKit (contains ``:`` or ``@`` and parses,
    docs/compatibility.md §4.14)."""
    if not path or (":" not in path and "@" not in path):
        return False
    try:
        Reference.parse(path)
    except (InvalidReference, OcikitError):
        return False
    return True


@dataclass(frozen=True)
class KitfileContent:
    """A Kitfile's fields (``Kitfile`` is this plus loading and serialising)."""

    manifest_version: str | None = None
    package: Package = field(default_factory=Package)
    model: Model | None = None
    code: tuple[Code, ...] = ()
    datasets: tuple[DataSet, ...] = ()
    docs: tuple[Docs, ...] = ()
    prompts: tuple[Prompt, ...] = ()
    mcp_servers: tuple[MCPServer, ...] = ()
    #: Where it was read from (for messages); not part of the value.
    source: str = field(default="Kitfile", compare=False, repr=False)
    #: (section, index) → line of the element's ``path`` in the source, when known.
    path_lines: Mapping[tuple[str, int], int] = field(default_factory=dict, compare=False, repr=False)

    def layer_elements(self) -> list[LayerElement]:
        """Elements that become layers, in KitOps manifest order: model, parts, code, datasets, docs
        (docs/compatibility.md §1.3).

        The model is skipped when its path is empty or a ModelKit reference.
        """
        out: list[LayerElement] = []
        m = self.model
        if m is not None:
            if m.path and not is_modelkit_reference(m.path):
                out.append(LayerElement("model", "model", 0, m.path))
            out.extend(LayerElement("modelpart", "parts", i, p.path or "") for i, p in enumerate(m.parts))
        out.extend(LayerElement("code", "code", i, c.path or "") for i, c in enumerate(self.code))
        out.extend(LayerElement("dataset", "datasets", i, d.path or "") for i, d in enumerate(self.datasets)
                   if not d.remote_path)  # a remote dataset has no layer (kit 1.17)
        out.extend(LayerElement("docs", "docs", i, d.path or "") for i, d in enumerate(self.docs))
        out.extend(LayerElement("prompt", "prompts", i, p.path or "") for i, p in enumerate(self.prompts))
        out.extend(LayerElement("mcpb", "mcpServers", i, m.path or "") for i, m in enumerate(self.mcp_servers))
        return out

    @property
    def model_reference(self) -> str | None:
        """``model.path`` when it names a parent ModelKit, else None."""
        if self.model is not None and is_modelkit_reference(self.model.path):
            return self.model.path
        return None
