"""The Kitfile: safe loading, validation, the typed model and its JSON config form.

Format: ``kitops-format.md`` §2 (config blob), §2.5 (YAML rules); user reference: ``docs/kitfile.md``;
the one source of truth for the YAML shape is ``schemas/kitfile.schema.json``.

Loading is deliberately not ``yaml.safe_load`` (reliability.md §1.10): we read the libyaml *event*
stream (``CSafeLoader``'s parser; never its constructor) and build the values ourselves, so that

* no tag can construct objects; any tag that is not a standard JSON-like one is refused;
* duplicate keys are errors with both line numbers (PyYAML silently keeps the last);
* aliases are capped by count, the expanded document by node count, and nesting by depth, so an
  alias bomb or a deeply nested document is refused quickly with bounded memory;
* every scalar outside ``parameters`` keeps the text as written, as Go's yaml.v3 does for string
  fields (``version: 1.10`` is ``"1.10"``, ``name: no`` is ``"no"``);
* ``parameters`` are resolved with yaml.v3's rules for ``any`` (YAML 1.2 booleans, Go integer
  syntax, timestamps stay strings) and re-emitted as Go's ``json.Marshal`` would.

The config blob (``to_config_json``) is byte-compatible with ``kit``: Go struct key order,
``omitempty`` rules, ``package`` always present, ``docs[].path`` always present, per-element
``digest``/``diffId`` last, parameter maps sorted by key, Go float formatting (§2.1, §2.2).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import posixpath
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, cached_property
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from ocikit._io._digest import Digest
from ocikit._oci._model import go_json
from ocikit._oci._reference import Reference
from ocikit._schemas import load_schema
from ocikit.errors import InvalidReference, KitfileError, OcikitError

__all__ = [
    "DEFAULT_KITFILE_NAMES",
    "MAX_KITFILE_BYTES",
    "SCHEMA_NAME",
    "Code",
    "DataSet",
    "Docs",
    "Kitfile",
    "LayerElement",
    "LayerInfo",
    "Model",
    "ModelPart",
    "Package",
    "find_kitfile",
    "is_modelkit_reference",
    "parse_parameters",
]

log = logging.getLogger(__name__)

#: Names searched in a context directory, in this order (kit ``pkg/lib/constants/consts.go``).
DEFAULT_KITFILE_NAMES = ("Kitfile", "kitfile", ".kitfile")
#: Largest Kitfile (or config blob) we read. 100 000 dataset entries take about 4.3 MB.
MAX_KITFILE_BYTES = 16 * 1024 * 1024
#: Cap on YAML nodes after alias expansion (a 100 000-entry Kitfile has about 500 000).
MAX_NODES = 1_000_000
#: Kitfiles have no use for aliases; a few are tolerated, more are refused (alias bombs).
MAX_ALIASES = 100
#: Nesting deeper than this is refused (keeps conversion recursion and memory bounded).
MAX_DEPTH = 100
SCHEMA_NAME = "kitfile.schema.json"

SECTIONS = ("model", "parts", "code", "datasets", "docs")
_KIND = {"model": "model", "parts": "modelpart", "code": "code", "datasets": "dataset", "docs": "docs"}


# --------------------------------------------------------------------------------------------
# Typed model
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Docs:
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

    ``kind`` is the media-type base (``model``, ``modelpart``, ``code``, ``dataset``, ``docs``);
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
    """True if a ``model.path`` names another ModelKit (contains ``:`` or ``@`` and parses, §4.14)."""
    if not path or (":" not in path and "@" not in path):
        return False
    try:
        Reference.parse(path)
    except (InvalidReference, OcikitError):
        return False
    return True


@dataclass(frozen=True)
class Kitfile:
    manifest_version: str | None = None
    package: Package = field(default_factory=Package)
    model: Model | None = None
    code: tuple[Code, ...] = ()
    datasets: tuple[DataSet, ...] = ()
    docs: tuple[Docs, ...] = ()
    #: Where it was read from (for messages); not part of the value.
    source: str = field(default="Kitfile", compare=False, repr=False)
    #: (section, index) → line of the element's ``path`` in the source, when known.
    path_lines: Mapping[tuple[str, int], int] = field(default_factory=dict, compare=False, repr=False)

    # ---- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Kitfile:
        """Read a Kitfile from a file, a directory (``Kitfile``, ``kitfile``, ``.kitfile``) or ``-`` (stdin)."""
        if str(path) == "-":
            data = _read_bounded(sys.stdin.buffer, "<stdin>")
            return cls.loads(_decode(data, "<stdin>"), source="<stdin>")
        p = Path(path)
        if p.is_dir():
            p = find_kitfile(p)
        source = str(p)
        try:
            with open(p, "rb") as f:
                data = _read_bounded(f, source)
        except FileNotFoundError as e:
            raise KitfileError(f"{source}: no such file",
                               hint="pass the Kitfile with -f or create one with 'ocikit init'") from e
        except IsADirectoryError as e:
            raise KitfileError(f"{source}: is a directory, not a Kitfile") from e
        except OSError as e:
            raise KitfileError(f"{source}: cannot read: {e.strerror or e}") from e
        return cls.loads(_decode(data, source), source=source)

    @classmethod
    def loads(cls, text: str | bytes, source: str = "Kitfile") -> Kitfile:
        """Parse Kitfile YAML text. Every problem is a :class:`KitfileError` naming file, line and field."""
        if isinstance(text, bytes):
            if len(text) > MAX_KITFILE_BYTES:
                raise _too_big(source)
            text = _decode(text, source)
        if len(text) > MAX_KITFILE_BYTES:
            raise _too_big(source)
        root = _compose(text, source)
        if root is None:
            raise KitfileError(f"{source}: the Kitfile is empty", hint="see docs/kitfile.md or run 'ocikit init'")
        if root.kind != "map":
            raise _err(source, root, (), f"the Kitfile must be a YAML mapping (key: value), got {_node_kind(root)}")
        raw = _Converter(source).raw(root, ())
        _validate(raw, source, root)
        return cls._build(raw, source, _path_lines(root))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], source: str = "Kitfile") -> Kitfile:
        """Build from a dict in Kitfile YAML shape (``None`` values mean omitted). Validated."""
        if not isinstance(obj, Mapping):
            raise KitfileError(f"{source}: the Kitfile must be a mapping, got {_value_kind(obj)}")
        raw = _clean_dict(obj, source, ())
        _validate(raw, source, None)
        return cls._build(raw, source, {})

    @classmethod
    def _build(cls, raw: Mapping[str, Any], source: str, lines: Mapping[tuple[str, int], int]) -> Kitfile:
        pkg = raw.get("package") or {}
        model_raw = raw.get("model")
        model = None
        if model_raw is not None:
            model = Model(
                **{k: _s(model_raw.get(k)) for k in _MODEL_STRS},
                parts=tuple(
                    ModelPart(**{k: _s(p.get(k)) for k in ("name", "path", "license", "type")})
                    for p in model_raw.get("parts") or ()
                ),
                parameters=model_raw.get("parameters"),
            )
        return cls(
            manifest_version=_s(raw.get("manifestVersion")),
            package=Package(
                **{k: _s(pkg.get(k)) for k in ("name", "version", "description", "license")},
                authors=tuple(pkg.get("authors") or ()),
            ),
            model=model,
            code=tuple(Code(**{k: _s(c.get(k)) for k in ("path", "description", "license")})
                       for c in raw.get("code") or ()),
            datasets=tuple(
                DataSet(**{k: _s(d.get(k)) for k in ("name", "path", "description", "license")},
                        parameters=d.get("parameters"))
                for d in raw.get("datasets") or ()
            ),
            docs=tuple(Docs(**{k: _s(d.get(k)) for k in ("path", "description")}) for d in raw.get("docs") or ()),
            source=source,
            path_lines=lines,
        )

    # ---- views -----------------------------------------------------------------------------

    def layer_elements(self) -> list[LayerElement]:
        """Elements that become layers, in KitOps manifest order: model, parts, code, datasets, docs (§1.3).

        The model is skipped when its path is empty or a ModelKit reference.
        """
        out: list[LayerElement] = []
        m = self.model
        if m is not None:
            if m.path and not is_modelkit_reference(m.path):
                out.append(LayerElement("model", "model", 0, m.path))
            out.extend(LayerElement("modelpart", "parts", i, p.path or "") for i, p in enumerate(m.parts))
        out.extend(LayerElement("code", "code", i, c.path or "") for i, c in enumerate(self.code))
        out.extend(LayerElement("dataset", "datasets", i, d.path or "") for i, d in enumerate(self.datasets))
        out.extend(LayerElement("docs", "docs", i, d.path or "") for i, d in enumerate(self.docs))
        return out

    @property
    def model_reference(self) -> str | None:
        """``model.path`` when it names a parent ModelKit, else None."""
        if self.model is not None and is_modelkit_reference(self.model.path):
            return self.model.path
        return None

    def to_dict(self) -> dict[str, Any]:
        """The Kitfile YAML shape (struct order, empty fields omitted, parameter maps sorted, no digests)."""
        out: dict[str, Any] = {}
        if self.manifest_version is not None:
            out["manifestVersion"] = self.manifest_version
        pkg = _omit({"name": self.package.name, "version": self.package.version,
                     "description": self.package.description, "license": self.package.license,
                     "authors": list(self.package.authors)})
        if pkg:
            out["package"] = pkg
        if self.model is not None:
            m = self.model
            out["model"] = _omit({
                "name": m.name, "path": m.path, "license": m.license, "framework": m.framework,
                "format": m.format, "version": m.version, "description": m.description,
                "parts": [_part_dict(p) for p in m.parts],
            })
            if m.parameters is not None:
                out["model"]["parameters"] = _sorted_value(m.parameters)
        if self.code:
            out["code"] = [_code_dict(c) for c in self.code]
        if self.datasets:
            ds = []
            for d in self.datasets:
                item = _omit({"name": d.name, "path": d.path, "description": d.description, "license": d.license})
                if d.parameters is not None:
                    item["parameters"] = _sorted_value(d.parameters)
                ds.append(item)
            out["datasets"] = ds
        if self.docs:
            out["docs"] = [_omit({"path": d.path, "description": d.description}) for d in self.docs]
        return out

    def to_yaml(self) -> str:
        """YAML the way kit's ``MarshalToYAML`` writes it: indent 2, struct order, ``authors`` in flow style."""
        data = self.to_dict()
        if "package" in data and "authors" in data["package"]:
            data["package"]["authors"] = _FlowList(data["package"]["authors"])
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30, indent=2)

    def to_config_json(self, layer_infos: Mapping[tuple[str, int], LayerInfo] | None = None) -> bytes:
        """The config blob: ``json.Marshal(KitFile)`` as kit writes it (§2.1, §2.2), with layer digests."""
        infos = dict(layer_infos or {})
        known = {(e.section, e.index) for e in self.layer_elements()}
        unknown = set(infos) - known
        if unknown:
            raise ValueError(f"layer_infos name elements that are not layers: {sorted(unknown)}")

        def with_info(obj: dict[str, Any], key: tuple[str, int]) -> dict[str, Any]:
            info = infos.get(key)
            if info is not None:
                obj["digest"] = str(info.digest)
                obj["diffId"] = str(info.diff_id)
            return obj

        out: dict[str, Any] = {"manifestVersion": self.manifest_version or ""}
        out["package"] = _omit({"name": self.package.name, "version": self.package.version,
                                "description": self.package.description, "license": self.package.license,
                                "authors": list(self.package.authors)})
        if self.model is not None:
            m = self.model
            md = _omit({"name": m.name, "path": m.path, "license": m.license, "framework": m.framework,
                        "format": m.format, "version": m.version, "description": m.description})
            if m.parts:
                md["parts"] = [
                    with_info(_part_dict(p), ("parts", i))
                    for i, p in enumerate(m.parts)
                ]
            if m.parameters is not None:
                md["parameters"] = _RawJSON(_go_encode(m.parameters, sort_keys=True))
            out["model"] = with_info(md, ("model", 0))
        if self.code:
            out["code"] = [with_info(_code_dict(c), ("code", i)) for i, c in enumerate(self.code)]
        if self.datasets:
            ds = []
            for i, d in enumerate(self.datasets):
                item = _omit({"name": d.name, "path": d.path, "description": d.description, "license": d.license})
                if d.parameters is not None:
                    item["parameters"] = _RawJSON(_go_encode(d.parameters, sort_keys=True))
                ds.append(with_info(item, ("datasets", i)))
            out["datasets"] = ds
        if self.docs:
            # Docs.Path has no omitempty in kit's struct: always present.
            out["docs"] = [with_info({"path": d.path or "", **_omit({"description": d.description})}, ("docs", i))
                           for i, d in enumerate(self.docs)]
        return _go_encode(out, sort_keys=False).encode("utf-8")

    def canonical_bytes(self) -> bytes:
        """One byte form of the Kitfile's content: the config JSON without layer digests."""
        return self.to_config_json({})

    @cached_property
    def digest(self) -> Digest:
        """SHA-256 of :meth:`canonical_bytes` (for SBOM provenance)."""
        return Digest.of_bytes(self.canonical_bytes())

    @classmethod
    def from_config_json(cls, data: bytes) -> tuple[Kitfile, dict[tuple[str, int], LayerInfo]]:
        """Read a config blob (kit's or ours). Unknown keys are ignored, as Go's ``json.Unmarshal`` does
        (newer kit adds ``prompts``, dataset ``remotePath``...); known keys are type-checked."""
        source = "config"
        if len(data) > MAX_KITFILE_BYTES:
            raise _too_big(source)
        import json

        def no_constants(name: str) -> Any:
            raise KitfileError(f"{source}: invalid JSON number {name}")

        try:
            obj = json.loads(data.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: absurd nesting
            raise KitfileError(f"{source}: the config blob is not valid JSON: {str(e)[:200]}",
                               hint="the ModelKit config is corrupt or not a KitOps config") from e
        if not isinstance(obj, dict):
            raise KitfileError(f"{source}: the config must be a JSON object, got {_value_kind(obj)}")
        props = _schema_props()
        infos: dict[tuple[str, int], LayerInfo] = {}

        def pick(value: Any, allowed: tuple[str, ...], where: str, key: tuple[str, int] | None) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise KitfileError(f"{source}: {where}: expected an object, got {_value_kind(value)}")
            if key is not None and value.get("digest") is not None:
                digest = _config_digest(value["digest"], f"{where}.digest")
                diff = value.get("diffId")
                infos[key] = LayerInfo(digest, _config_digest(diff, f"{where}.diffId") if diff is not None else digest)
            return {k: value[k] for k in allowed if k in value}

        raw: dict[str, Any] = {}
        if "manifestVersion" in obj:
            raw["manifestVersion"] = obj["manifestVersion"]
        if obj.get("package") is not None:
            raw["package"] = pick(obj["package"], props["package"], "package", None)
        if obj.get("model") is not None:
            model = pick(obj["model"], props["model"], "model", ("model", 0))
            if model.get("parts") is not None:
                model["parts"] = [pick(p, props["parts"], f"model.parts[{i}]", ("parts", i))
                                  for i, p in enumerate(_config_list(model["parts"], "model.parts"))]
            raw["model"] = model
        for section in ("code", "datasets", "docs"):
            if obj.get(section) is not None:
                raw[section] = [pick(e, props[section], f"{section}[{i}]", (section, i))
                                for i, e in enumerate(_config_list(obj[section], section))]
        kitfile = cls.from_dict(raw, source=source)
        # A model that is a ModelKit reference has no layer; drop any digest a writer left there.
        valid = {(e.section, e.index) for e in kitfile.layer_elements()}
        return kitfile, {k: v for k, v in infos.items() if k in valid}

    # ---- paths -----------------------------------------------------------------------------

    def check_paths(self, context_dir: str | os.PathLike[str]) -> None:
        """Refuse absolute paths, paths escaping ``context_dir`` (``..``, symlinks resolving outside),
        missing paths and paths used by two layers (kit ``validate.go``; cleaned paths, as newer kit)."""
        ctx_given = Path(context_dir)
        try:
            ctx = ctx_given.resolve(strict=True)
        except OSError as e:
            raise KitfileError(f"context directory {ctx_given} does not exist",
                               hint="pass an existing directory as the context") from e
        if not ctx.is_dir():
            raise KitfileError(f"context {ctx_given} is not a directory")
        problems: list[str] = []
        seen: dict[str, LayerElement] = {}
        for el in self.layer_elements():
            where = self._where(el)
            path = el.path
            if not path:
                problems.append(f"{where}: empty path")
                continue
            if "\x00" in path:
                problems.append(f"{where}: path contains a NUL character")
                continue
            if path.startswith(("/", "\\")) or os.path.isabs(path) or re.match(r"^[A-Za-z]:[\\/]", path):
                problems.append(f"{where}: absolute path {path!r} is not allowed; "
                                "use a path relative to the context directory")
                continue
            clean = posixpath.normpath(path.replace("\\", "/"))
            if clean == ".." or clean.startswith("../"):
                problems.append(f"{where}: path {path!r} is outside the context directory")
                continue
            target = ctx / clean
            try:
                resolved = target.resolve(strict=False)
            except (OSError, RuntimeError) as e:  # symlink loops
                problems.append(f"{where}: cannot resolve path {path!r}: {e}")
                continue
            if resolved != ctx and not resolved.is_relative_to(ctx):
                problems.append(f"{where}: path {path!r} resolves outside the context directory (through a symlink)")
                continue
            if not os.path.lexists(target) or not resolved.exists():
                problems.append(f"{where}: path {path!r} does not exist in {ctx_given}")
                continue
            other = seen.get(clean)
            if other is not None:
                problems.append(f"{where}: path {path!r} is also used by {other.field}.path ({other.path!r}); "
                                "each layer needs its own path")
                continue
            seen[clean] = el
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise KitfileError(problems[0] + more,
                               hint="fix the paths in the Kitfile; they are relative to the context directory")

    def _where(self, el: LayerElement) -> str:
        line = self.path_lines.get((el.section, el.index))
        loc = f"{self.source}:{line}" if line else self.source
        return f"{loc}: {el.field}.path"


def find_kitfile(directory: str | os.PathLike[str]) -> Path:
    """The Kitfile in ``directory``: ``Kitfile``, ``kitfile`` or ``.kitfile``, in that order."""
    d = Path(directory)
    for name in DEFAULT_KITFILE_NAMES:
        candidate = d / name
        if candidate.is_file():
            return candidate
        if candidate.is_dir():
            raise KitfileError(f"{candidate} is a directory, not a Kitfile",
                               hint="rename that directory, or pass the Kitfile's path with -f")
    raise KitfileError(f"no Kitfile in {d} (looked for {', '.join(DEFAULT_KITFILE_NAMES)})",
                       hint="create one with 'ocikit init' or pass it with -f")


# --------------------------------------------------------------------------------------------
# Reading bytes
# --------------------------------------------------------------------------------------------


def _too_big(source: str) -> KitfileError:
    return KitfileError(f"{source}: larger than {MAX_KITFILE_BYTES // (1024 * 1024)} MiB; refusing to parse it",
                        hint="a Kitfile lists paths; put large data in the files it names")


def _read_bounded(f: BinaryIO, source: str) -> bytes:
    data = f.read(MAX_KITFILE_BYTES + 1)
    if len(data) > MAX_KITFILE_BYTES:
        raise _too_big(source)
    return data


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise KitfileError(f"{source}:{line}: not UTF-8 text (byte {e.start})", hint="save the Kitfile as UTF-8") from e


# --------------------------------------------------------------------------------------------
# YAML: events → nodes (bounded), nodes → values
# --------------------------------------------------------------------------------------------

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_SEQ_TAGS = {None, "!", f"{_STD}seq"}
_MAP_TAGS = {None, "!", f"{_STD}map"}


class _Node:
    __slots__ = ("col", "kind", "line", "size", "style", "tag", "value")

    def __init__(self, kind: str, tag: str | None, value: Any, style: str | None, mark: Any) -> None:
        self.kind = kind  # "scalar" | "seq" | "map"
        self.tag = tag
        self.value = value  # str | list[_Node] | list[tuple[_Node, _Node]]
        self.style = style or None  # None = plain
        self.line = mark.line + 1
        self.col = mark.column + 1
        self.size = 1  # nodes after alias expansion


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


def _tab_at(text: str, mark: Any) -> bool:
    """Whether the YAML error points at a tab (libyaml: "found character that cannot start any token")."""
    if mark is None:
        return False
    lines = text.splitlines()
    return 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]


def _compose(text: str, source: str) -> _Node | None:
    """Build a node tree from libyaml events, iteratively (no recursion), with all caps enforced."""
    loader = _LOADER(text)
    try:
        return _compose_events(loader, source)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        what = " ".join(x for x in (e.context, e.problem) if x)
        if "tab character" in (e.problem or "") or _tab_at(text, mark):
            raise KitfileError(f"{where}: invalid YAML: {what}",
                               hint="YAML indentation must use spaces, not tabs") from e
        raise KitfileError(f"{where}: invalid YAML: {what}") from e
    except yaml.YAMLError as e:
        raise KitfileError(f"{source}: invalid YAML: {e}") from e
    finally:
        loader.dispose()


def _compose_events(loader: Any, source: str) -> _Node | None:
    get = loader.get_event
    get()  # StreamStart
    if loader.check_event(yaml.StreamEndEvent):
        return None
    get()  # DocumentStart
    anchors: dict[str, _Node] = {}
    open_ids: set[int] = set()
    stack: list[tuple[_Node, list[_Node | None]]] = []  # (collection, [pending key]) frames
    root: _Node | None = None
    total = 0
    aliases = 0

    def attach(node: _Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent, pending = stack[-1]
        parent.size += node.size
        if parent.kind == "seq":
            parent.value.append(node)
        elif pending[0] is None:
            pending[0] = node
        else:
            parent.value.append((pending[0], node))
            pending[0] = None

    while True:
        ev: Any = get()
        if isinstance(ev, yaml.ScalarEvent):
            if ev.tag is not None and ev.tag != "!" and ev.tag not in _SCALAR_TAGS:
                raise _tag_error(source, ev)
            node = _Node("scalar", ev.tag, ev.value, ev.style, ev.start_mark)
        elif isinstance(ev, yaml.AliasEvent):
            line = _line_of(ev)
            target = anchors.get(str(ev.anchor))
            if target is None:
                raise KitfileError(f"{source}:{line}: undefined YAML alias *{ev.anchor}")
            if id(target) in open_ids:
                raise KitfileError(f"{source}:{line}: recursive YAML alias *{ev.anchor}")
            aliases += 1
            if aliases > MAX_ALIASES:
                raise KitfileError(f"{source}:{line}: more than {MAX_ALIASES} YAML aliases; refusing "
                                   "(a Kitfile does not need anchors and aliases)", hint="write the values out")
            total += target.size
            if total > MAX_NODES:
                raise _bomb(source, ev)
            attach(target)
            continue
        elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            is_seq = isinstance(ev, yaml.SequenceStartEvent)
            if ev.tag not in (_SEQ_TAGS if is_seq else _MAP_TAGS):
                raise _tag_error(source, ev)
            node = _Node("seq" if is_seq else "map", ev.tag, [], None, ev.start_mark)
            total += 1
            if total > MAX_NODES:
                raise _bomb(source, ev)
            if ev.anchor is not None:
                anchors[ev.anchor] = node
                open_ids.add(id(node))
            stack.append((node, [None]))
            if len(stack) > MAX_DEPTH:
                raise KitfileError(f"{source}:{node.line}: YAML nested deeper than {MAX_DEPTH} levels; refusing")
            continue
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            node, _ = stack.pop()
            open_ids.discard(id(node))
            attach(node)
            continue
        elif isinstance(ev, yaml.DocumentEndEvent):
            break
        else:  # pragma: no cover - libyaml only emits the events above inside a document
            raise KitfileError(f"{source}: unexpected YAML event {type(ev).__name__}")
        # scalar
        total += 1
        if total > MAX_NODES:
            raise _bomb(source, ev)
        if ev.anchor is not None:
            anchors[ev.anchor] = node
        attach(node)
    if not loader.check_event(yaml.StreamEndEvent):
        ev = loader.peek_event()
        raise KitfileError(f"{source}:{ev.start_mark.line + 1}: more than one YAML document; a Kitfile is one document")
    return root


def _line_of(ev: Any) -> int:
    mark = ev.start_mark
    return int(mark.line) + 1 if mark is not None else 0


def _tag_error(source: str, ev: Any) -> KitfileError:
    return KitfileError(
        f"{source}:{ev.start_mark.line + 1}:{ev.start_mark.column + 1}: YAML tag {_show_tag(ev.tag)} is not allowed "
        "(only plain YAML data: strings, numbers, booleans, null, lists, mappings)",
        hint="remove the tag; Kitfiles never construct objects",
    )


def _bomb(source: str, ev: Any) -> KitfileError:
    return KitfileError(f"{source}:{ev.start_mark.line + 1}: the YAML expands to more than {MAX_NODES} nodes; refusing "
                        "(alias bomb or oversized Kitfile)")


def _node_kind(node: _Node) -> str:
    if node.kind == "map":
        return "a mapping"
    if node.kind == "seq":
        return "a list"
    return f"the scalar {node.value!r}" if len(node.value) < 40 else "a scalar"


def _fmt_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def _err(source: str, node: _Node | None, path: tuple[str | int, ...], message: str) -> KitfileError:
    loc = f"{source}:{node.line}:{node.col}" if node is not None else source
    return KitfileError(f"{loc}: {_fmt_path(path)}: {message}")


# yaml.v3 resolution for plain scalars decoded into `any` (gopkg.in/yaml.v3 resolve.go).
_V3_MAP: dict[str, Any] = {
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT_RE = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_GO_INT_RE = re.compile(r"^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|0([0-7]*)|([1-9][0-9]*))$")
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64_MAX = (1 << 64) - 1


def _go_int(plain: str) -> int | None:
    """Go ``strconv.ParseInt(s, 0, 64)``, falling back to ``ParseUint`` (unsigned only)."""
    m = _GO_INT_RE.match(plain)
    if not m:
        return None
    sign, hx, octo, binary, lead0, dec = m.groups()
    if hx is not None:
        v = int(hx, 16)
    elif octo is not None:
        v = int(octo, 8)
    elif binary is not None:
        v = int(binary, 2)
    elif lead0 is not None:
        v = int(lead0, 8) if lead0 else 0
    else:
        v = int(dec)
    if sign == "-":
        v = -v
    if _INT64[0] <= v <= _INT64[1] or (not sign and 0 <= v <= _UINT64_MAX):
        return v
    return None


def _resolve_plain(text: str) -> Any:
    """The value yaml.v3 gives a plain scalar decoded into ``any``.

    YAML 1.2 booleans only (``yes``/``no``/``on``/``off`` stay strings); Go integer syntax (``0x``,
    ``0o``, ``0b``, leading ``0`` = octal, ``_`` separators); timestamps stay strings.
    """
    if text in _V3_MAP:
        return _V3_MAP[text]
    c = text[0]
    if c == ".":
        return float(text) if _DOT_FLOAT_RE.match(text) else text
    if c in "0123456789+-":
        plain = text.replace("_", "")
        iv = _go_int(plain)
        if iv is not None:
            return iv
        if _FLOAT_RE.match(plain):
            fv = float(plain)
            if not math.isinf(fv):  # Go's ParseFloat fails with ErrRange; the value stays a string
                return fv
    return text


class _Converter:
    """Node tree → Python values. Outside ``parameters``: scalars are their source text (or None for
    a null). Inside: JSON values resolved like yaml.v3."""

    def __init__(self, source: str) -> None:
        self.source = source

    def raw(self, node: _Node, path: tuple[str | int, ...]) -> Any:
        if node.kind == "scalar":
            return self._text(node, path)
        if node.kind == "seq":
            return [self.raw(child, (*path, i)) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, json_mode=False)
            if key in lines:
                raise _err(self.source, key_node, (*path, key),
                           f"duplicate key (first defined on line {lines[key]})")
            lines[key] = key_node.line
            sub = (*path, key)
            if key == "parameters" and (path == ("model",) or (len(path) == 2 and path[0] == "datasets")):
                value = self.json(value_node, sub)
            else:
                value = self.raw(value_node, sub)
            if value is not None:  # a null value means "omitted", as in Go
                out[key] = value
        return out

    def _text(self, node: _Node, path: tuple[str | int, ...]) -> str | None:
        text: str = node.value
        if node.style is None and node.tag in (None, f"{_STD}null") and text in _NULLS:
            return None
        if node.tag == f"{_STD}null":
            raise _err(self.source, node, path, f"!!null tag on non-null value {text!r}")
        _check_unicode(text, self.source, node, path)
        return text

    def _key(self, node: _Node, path: tuple[str | int, ...], *, json_mode: bool) -> str:
        if node.kind != "scalar":
            raise _err(self.source, node, path, f"mapping keys must be strings, got {_node_kind(node)}")
        if node.style is None and node.tag is None and node.value == "<<":
            raise _err(self.source, node, path, "YAML merge keys (<<) are not supported; write the values out")
        if json_mode:
            value = self._scalar_json(node, path)
            if not isinstance(value, str):
                raise _err(self.source, node, path,
                           f"mapping key {node.value!r} is a {_value_kind(value)}; "
                           "parameter keys must be strings (quote it)")
            return value
        _check_unicode(node.value, self.source, node, path)
        return str(node.value)

    def json(self, node: _Node, path: tuple[str | int, ...]) -> Any:
        if node.kind == "scalar":
            return self._scalar_json(node, path)
        if node.kind == "seq":
            return [self.json(child, (*path, i)) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, json_mode=True)
            if key in lines:
                raise _err(self.source, key_node, (*path, key), f"duplicate key (first defined on line {lines[key]})")
            lines[key] = key_node.line
            out[key] = self.json(value_node, (*path, key))
        return out

    def _scalar_json(self, node: _Node, path: tuple[str | int, ...]) -> Any:
        text: str = node.value
        tag = node.tag
        _check_unicode(text, self.source, node, path)
        if tag in (f"{_STD}str", f"{_STD}timestamp", "!") or (tag is None and node.style is not None):
            return text
        value = _resolve_plain(text)
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise _err(self.source, node, path, f"{text!r} (NaN or infinity) cannot be represented in JSON")
        if tag is None:
            return value
        want = tag[len(_STD):]
        if want == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, float), "bool": isinstance(value, bool), "null": value is None}[want]
        if not ok:
            raise _err(self.source, node, path, f"cannot read {text!r} as !!{want}")
        return value


def _check_unicode(text: str, source: str, node: _Node | None, path: tuple[str | int, ...]) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise _err(source, node, path, "string contains an invalid Unicode escape (lone surrogate)") from e


def _path_lines(root: _Node) -> dict[tuple[str, int], int]:
    """Line of each element's ``path`` value, for check_paths messages."""
    lines: dict[tuple[str, int], int] = {}

    def child(node: _Node | None, key: str) -> _Node | None:
        if node is None or node.kind != "map":
            return None
        for k, v in node.value:
            if k.kind == "scalar" and k.value == key:
                found: _Node = v
                return found
        return None

    def element_lines(seq: _Node | None, section: str) -> None:
        if seq is None or seq.kind != "seq":
            return
        for i, item in enumerate(seq.value):
            p = child(item, "path")
            lines[(section, i)] = (p or item).line

    model = child(root, "model")
    mp = child(model, "path")
    if mp is not None:
        lines[("model", 0)] = mp.line
    element_lines(child(model, "parts"), "parts")
    for section in ("code", "datasets", "docs"):
        element_lines(child(root, section), section)
    return lines


# --------------------------------------------------------------------------------------------
# Validation (schema = source of truth)
# --------------------------------------------------------------------------------------------

_TYPE_WORDS = {"string": "a string", "array": "a list", "object": "a mapping", "integer": "an integer",
               "number": "a number", "boolean": "a boolean", "null": "null"}


def _value_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _find_node(root: _Node | None, path: tuple[str | int, ...], *, key_of_last: bool = False) -> _Node | None:
    node = root
    for i, p in enumerate(path):
        if node is None:
            return None
        last = i == len(path) - 1
        if node.kind == "map" and isinstance(p, str):
            found = None
            for k, v in node.value:
                if k.kind == "scalar" and k.value == p:
                    found = k if (last and key_of_last) else v
            node = found
        elif node.kind == "seq" and isinstance(p, int) and 0 <= p < len(node.value):
            node = node.value[p]
        else:
            return node
    return node


class _Unsupported(Exception):
    """The schema uses a keyword the fast checker does not implement: use jsonschema."""


def _compile(schema: Any, root: Mapping[str, Any]) -> Callable[[Any], bool]:
    """Compile a schema into a predicate, for the keywords the Kitfile schema uses.

    jsonschema takes ~25 µs per array element (2.3 s for 100 000 datasets); this takes ~1 µs. It
    decides only valid/invalid; messages always come from jsonschema, and any keyword outside this
    subset raises :class:`_Unsupported` so jsonschema does all the work. ``tests/unit/test_kitfile.py``
    checks both agree on the whole example corpus.
    """
    if schema is True or schema == {}:
        return lambda _v: True
    if not isinstance(schema, dict):
        raise _Unsupported(repr(schema))
    checks: list[Callable[[Any], bool]] = []
    for kw, arg in schema.items():
        if kw in ("description", "title", "$schema", "$comment", "$defs", "$id", "examples"):
            continue
        if kw == "$ref":
            if not isinstance(arg, str) or not arg.startswith("#/"):
                raise _Unsupported(kw)
            target: Any = root
            for part in arg[2:].split("/"):
                target = target[part]
            checks.append(_compile(target, root))
        elif kw == "type":
            checks.append(_type_check(tuple(_PY_TYPES[t] for t in ([arg] if isinstance(arg, str) else arg))))
        elif kw == "properties":
            checks.append(_properties_check({k: _compile(sub, root) for k, sub in arg.items()}))
        elif kw == "additionalProperties":
            if arg is True:
                continue
            if arg is not False:
                raise _Unsupported(kw)
            checks.append(_closed_check(frozenset(schema.get("properties", {}))))
        elif kw == "required":
            checks.append(_required_check(tuple(arg)))
        elif kw == "items":
            checks.append(_items_check(_compile(arg, root)))
        elif kw == "pattern":
            checks.append(_pattern_check(re.compile(arg)))
        elif kw == "maxLength":
            checks.append(_length_check(0, int(arg)))
        elif kw == "minLength":
            checks.append(_length_check(int(arg), None))
        else:
            raise _Unsupported(kw)
    return lambda v: all(c(v) for c in checks)


def _type_check(types: tuple[Callable[[Any], bool], ...]) -> Callable[[Any], bool]:
    return lambda v: any(t(v) for t in types)


def _properties_check(subs: dict[str, Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, dict) or all(subs[k](x) for k, x in v.items() if k in subs)


def _closed_check(allowed: frozenset[str]) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, dict) or allowed.issuperset(v)


def _required_check(req: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, dict) or all(r in v for r in req)


def _items_check(sub: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, list) or all(sub(x) for x in v)


def _pattern_check(rx: re.Pattern[str]) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, str) or rx.search(v) is not None


def _length_check(low: int, high: int | None) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, str) or (len(v) >= low and (high is None or len(v) <= high))


_PY_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


@cache
def _fast_check(name: str) -> Callable[[Any], bool] | None:
    schema = load_schema(name)
    try:
        return _compile(schema, schema)
    except _Unsupported as e:
        log.debug("schema %s uses %s; validating with jsonschema only", name, e)
        return None


def _validate(raw: Mapping[str, Any], source: str, root: _Node | None) -> None:
    fast = _fast_check(SCHEMA_NAME)
    if fast is not None and fast(raw):
        return
    from ocikit._schemas import validator

    v = validator(SCHEMA_NAME)
    problems: list[tuple[int, int, str]] = []
    for e in v.iter_errors(raw):
        path = tuple(e.absolute_path)
        node: _Node | None
        if e.validator == "additionalProperties":
            allowed = list(e.schema.get("properties", {}))
            for extra in sorted(set(e.instance) - set(allowed)):
                sub = (*path, extra)
                node = _find_node(root, sub, key_of_last=True)
                close = difflib.get_close_matches(str(extra), allowed, n=1)
                guess = f"did you mean {close[0]!r}? " if close else ""
                msg = f"unknown field {extra!r} ({guess}allowed: {', '.join(allowed)})"
                problems.append(_problem(source, node, sub, msg))
            continue
        node = _find_node(root, path)
        if e.validator == "type":
            want = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
            words = [_TYPE_WORDS.get(str(w), str(w)) for w in want]
            msg = f"expected {' or '.join(words)}, got {_value_kind(e.instance)}"
        elif e.validator == "required":
            missing = [r for r in e.validator_value if r not in e.instance]
            msg = f"missing required field {missing[0]!r}" if missing else e.message
        elif e.validator == "pattern":
            msg = f"{e.instance!r} is not allowed: must match {e.validator_value}"
            if path and path[-1] == "type":
                msg += " (letters, digits, '_', '.', '-'; not starting with '.' or '-')"
        elif e.validator == "maxLength":
            msg = f"longer than {e.validator_value} characters"
        elif e.validator == "minLength":
            msg = "must not be empty"
        else:
            msg = e.message
        problems.append(_problem(source, node, path, msg))
    if problems:
        problems.sort(key=lambda t: (t[0], t[1]))
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise KitfileError(problems[0][2] + more)


def _problem(source: str, node: _Node | None, path: tuple[str | int, ...], msg: str) -> tuple[int, int, str]:
    line, col = (node.line, node.col) if node is not None else (0, 0)
    return line, col, str(_err(source, node, path, msg))


def _schema_props() -> dict[str, tuple[str, ...]]:
    schema = load_schema(SCHEMA_NAME)
    props = schema["properties"]
    return {
        "package": tuple(props["package"]["properties"]),
        "model": tuple(props["model"]["properties"]),
        "parts": tuple(schema["$defs"]["modelPart"]["properties"]),
        "code": tuple(props["code"]["items"]["properties"]),
        "datasets": tuple(props["datasets"]["items"]["properties"]),
        "docs": tuple(props["docs"]["items"]["properties"]),
    }


def _config_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise KitfileError(f"config: {where}: expected a list, got {_value_kind(value)}")
    return value


def _config_digest(value: Any, where: str) -> Digest:
    if not isinstance(value, str) or not Digest.is_valid(value):
        raise KitfileError(f"config: {where}: invalid digest {str(value)[:80]!r}",
                           hint="the ModelKit config is corrupt or hostile")
    return Digest.parse(value)


def _clean_dict(obj: Mapping[Any, Any], source: str, path: tuple[str | int, ...]) -> dict[str, Any]:
    """A plain dict/list copy of a Kitfile-shaped mapping; None values dropped; parameters checked."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise KitfileError(f"{source}: {_fmt_path(path)}: keys must be strings, got {_value_kind(k)}")
        if v is None:
            continue
        sub = (*path, k)
        if k == "parameters" and (path == ("model",) or (len(path) == 2 and path[0] == "datasets")):
            out[k] = _check_json(v, source, sub)
        elif isinstance(v, Mapping):
            out[k] = _clean_dict(v, source, sub)
        elif isinstance(v, (list, tuple)):
            out[k] = [_clean_dict(x, source, (*sub, i)) if isinstance(x, Mapping) else x for i, x in enumerate(v)]
        else:
            out[k] = v
    return out


def _check_json(value: Any, source: str, path: tuple[str | int, ...], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise KitfileError(f"{source}: {_fmt_path(path)}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str):
            _check_unicode(value, source, None, path)
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise KitfileError(f"{source}: {_fmt_path(path)}: NaN or infinity cannot be represented in JSON")
        return value
    if isinstance(value, (list, tuple)):
        return [_check_json(x, source, (*path, i), depth + 1) for i, x in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise KitfileError(f"{source}: {_fmt_path(path)}: parameter keys must be strings, "
                                   f"got {_value_kind(k)} {k!r}")
            out[k] = _check_json(v, source, (*path, k), depth + 1)
        return out
    raise KitfileError(f"{source}: {_fmt_path(path)}: {_value_kind(value)} is not a JSON value")


def parse_parameters(text: str, source: str) -> Any:
    """Parse a YAML or JSON document into a JSON value with the ``parameters`` rules (safe, bounded).

    Used for ``ocikit init --params/--metrics`` files.
    """
    if len(text) > MAX_KITFILE_BYTES:
        raise _too_big(source)
    root = _compose(text, source)
    if root is None:
        return None
    return _Converter(source).json(root, ())


# --------------------------------------------------------------------------------------------
# Serialisation helpers
# --------------------------------------------------------------------------------------------


_MODEL_STRS = ("name", "path", "license", "framework", "format", "version", "description")


def _part_dict(p: ModelPart) -> dict[str, Any]:
    return _omit({"name": p.name, "path": p.path, "license": p.license, "type": p.type})


def _code_dict(c: Code) -> dict[str, Any]:
    return _omit({"path": c.path, "description": c.description, "license": c.license})


def _s(value: Any) -> str | None:
    """Empty strings are "omitted" (Go's zero value)."""
    return value if value else None


def _omit(d: dict[str, Any]) -> dict[str, Any]:
    """Go ``omitempty``: drop None, "" and empty lists."""
    return {k: v for k, v in d.items() if v is not None and v != "" and v != []}


def _sorted_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted_value(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_sorted_value(x) for x in value]
    return value


class _RawJSON(str):
    """Already-encoded JSON text, emitted verbatim."""


def _go_float(f: float) -> str:
    """Go's ``encoding/json`` float64 format: shortest digits, exponent only below 1e-6 or from 1e21."""
    if math.isnan(f) or math.isinf(f):
        raise ValueError("NaN/Inf is not JSON")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    r = repr(f)
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        mant, _, exp = r.partition("e")
        sign, digits = exp[0], exp[1:]
        if len(digits) < 2:
            digits = digits.zfill(2)
        if sign == "-" and len(digits) == 2 and digits[0] == "0":  # Go: "clean up e-09 to e-9"
            digits = digits[1]
        if mant.endswith(".0"):
            mant = mant[:-2]
        return f"{mant}e{sign}{digits}"
    text = format(Decimal(r), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _go_encode(value: Any, *, sort_keys: bool) -> str:
    """Go ``json.Marshal`` of plain values (strings escaped by ``go_json``)."""
    if isinstance(value, _RawJSON):
        return str(value)
    if isinstance(value, str):
        return go_json(value).decode("utf-8")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        keys: Iterator[Any] = iter(sorted(value)) if sort_keys else iter(value)
        items = (f"{go_json(k).decode('utf-8')}:{_go_encode(value[k], sort_keys=sort_keys)}" for k in keys)
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_go_encode(x, sort_keys=sort_keys) for x in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class _FlowList(list[Any]):
    """A list written in flow style (``authors: [a, b]``)."""


class _Dumper(yaml.SafeDumper):
    """yaml.v3-like output: sequences indented under their key, strings quoted when yaml.v3 would
    read them as something else."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif value and not isinstance(_resolve_plain(value), str):
        style = "'"
    elif value in ("y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"):
        style = "'"  # YAML 1.1 readers (kit's yaml.v3 quotes them too)
    return dumper.represent_scalar(f"{_STD}str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.Node:
    return dumper.represent_sequence(f"{_STD}seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_FlowList, _represent_flow)
