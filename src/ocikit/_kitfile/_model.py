"""The Kitfile: one value (``_elements.KitfileContent``) and its forms, each owned by a module here.

Format: ``docs/compatibility.md`` §2 (config blob), §2.5 (YAML rules); user reference: ``docs/kitfile.md``;
the one source of truth for the YAML shape is ``schemas/kitfile.schema.json``.

:class:`Kitfile` is the entry point for every form: ``load``/``loads`` (the hardened YAML loader,
``_yaml``, then the schema, ``_schema``), ``from_dict``/``to_dict``/``to_yaml`` (``_dump``),
``from_config_json``/``to_config_json`` (the config blob, ``_config_json``) and ``check_paths``
(``_paths``). This module builds the typed value from checked plain values.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from ocikit._io._digest import Digest
from ocikit._kitfile._elements import (
    Code,
    DataSet,
    Docs,
    KitfileContent,
    LayerInfo,
    MCPServer,
    Model,
    ModelPart,
    Package,
    Prompt,
)
from ocikit._kitfile._schema import validate
from ocikit._kitfile._yaml import (
    MAX_DEPTH,
    MAX_KITFILE_BYTES,
    Converter,
    Node,
    check_unicode,
    compose,
    decode,
    err,
    fmt_path,
    node_kind,
    read_bounded,
    too_big,
    value_kind,
)
from ocikit.errors import KitfileError

__all__ = ["DEFAULT_KITFILE_NAMES", "Kitfile", "check_json", "find_kitfile"]

#: Names searched in a context directory, in this order (kit ``pkg/lib/constants/consts.go``).
DEFAULT_KITFILE_NAMES = ("Kitfile", "kitfile", ".kitfile")

_MODEL_STRS = ("name", "path", "license", "framework", "format", "version", "description")


class Kitfile(KitfileContent):
    """A Kitfile, frozen; every problem reading one is a :class:`KitfileError` naming file, line and field."""

    # ---- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Kitfile:
        """Read a Kitfile from a file, a directory (``Kitfile``, ``kitfile``, ``.kitfile``) or ``-`` (stdin)."""
        if str(path) == "-":
            data = read_bounded(sys.stdin.buffer, "<stdin>")
            return cls.loads(decode(data, "<stdin>"), source="<stdin>")
        p = Path(path)
        if p.is_dir():
            p = find_kitfile(p)
        source = str(p)
        try:
            with open(p, "rb") as f:
                data = read_bounded(f, source)
        except FileNotFoundError as e:
            raise KitfileError(f"{source}: no such file",
                               hint="pass the Kitfile with -f or create one with 'ocikit init'") from e
        except IsADirectoryError as e:
            raise KitfileError(f"{source}: is a directory, not a Kitfile") from e
        except OSError as e:
            raise KitfileError(f"{source}: cannot read: {e.strerror or e}") from e
        return cls.loads(decode(data, source), source=source)

    @classmethod
    def loads(cls, text: str | bytes, source: str = "Kitfile") -> Kitfile:
        """Parse Kitfile YAML text. Every problem is a :class:`KitfileError` naming file, line and field."""
        if isinstance(text, bytes):
            if len(text) > MAX_KITFILE_BYTES:
                raise too_big(source)
            text = decode(text, source)
        if len(text) > MAX_KITFILE_BYTES:
            raise too_big(source)
        root = compose(text, source)
        if root is None:
            raise KitfileError(f"{source}: the Kitfile is empty", hint="see docs/kitfile.md or run 'ocikit init'")
        if root.kind != "map":
            raise err(source, root, (), f"the Kitfile must be a YAML mapping (key: value), got {node_kind(root)}")
        raw = Converter(source).raw(root, ())
        validate(raw, source, root)
        return _build(cls, raw, source, _path_lines(root))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], source: str = "Kitfile") -> Kitfile:
        """Build from a dict in Kitfile YAML shape (``None`` values mean omitted). Validated."""
        if not isinstance(obj, Mapping):
            raise KitfileError(f"{source}: the Kitfile must be a mapping, got {value_kind(obj)}")
        raw = _clean_dict(obj, source, ())
        validate(raw, source, None)
        return _build(cls, raw, source, {})

    @classmethod
    def from_config_json(cls, data: bytes) -> tuple[Kitfile, dict[tuple[str, int], LayerInfo]]:
        """Read a config blob (kit's or ours). Unknown keys are ignored, as Go's ``json.Unmarshal`` does
        (newer kit adds ``prompts``, dataset ``remotePath``...); known keys are type-checked."""
        from ocikit._kitfile._config_json import read_config

        raw, infos = read_config(data)
        kitfile = cls.from_dict(raw, source="config")
        # A model that is a ModelKit reference has no layer; drop any digest a writer left there.
        valid = {(e.section, e.index) for e in kitfile.layer_elements()}
        return kitfile, {k: v for k, v in infos.items() if k in valid}

    # ---- forms -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The Kitfile YAML shape (struct order, empty fields omitted, parameter maps sorted, no digests)."""
        from ocikit._kitfile._dump import to_dict

        return to_dict(self)

    def to_yaml(self) -> str:
        """YAML the way kit's ``MarshalToYAML`` writes it: indent 2, struct order, ``authors`` in flow style."""
        from ocikit._kitfile._dump import to_yaml

        return to_yaml(self)

    def to_config_json(self, layer_infos: Mapping[tuple[str, int], LayerInfo] | None = None) -> bytes:
        """The config blob: ``json.Marshal(KitFile)`` as kit writes it (docs/compatibility.md §2.1, §2.2),
        with layer digests."""
        from ocikit._kitfile._config_json import write_config

        return write_config(self, layer_infos or {})

    def canonical_bytes(self) -> bytes:
        """One byte form of the Kitfile's content: the config JSON without layer digests."""
        return self.to_config_json({})

    @cached_property
    def digest(self) -> Digest:
        """SHA-256 of :meth:`canonical_bytes` (for SBOM provenance)."""
        return Digest.of_bytes(self.canonical_bytes())

    # ---- paths -----------------------------------------------------------------------------

    def check_paths(self, context_dir: str | os.PathLike[str]) -> None:
        """Refuse absolute paths, paths escaping ``context_dir`` (``..``, symlinks resolving outside),
        missing paths and paths used by two layers (kit ``validate.go``; cleaned paths, as newer kit)."""
        from ocikit._kitfile._paths import check_paths

        check_paths(self, context_dir)


def _build(cls: type[Kitfile], raw: Mapping[str, Any], source: str, lines: Mapping[tuple[str, int], int]) -> Kitfile:
    """The typed value of a checked Kitfile-shaped dict."""
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
                    parameters=d.get("parameters"), remote_path=_s(d.get("remotePath")),
                    remote_hash=_s(d.get("remoteHash")))
            for d in raw.get("datasets") or ()
        ),
        docs=tuple(Docs(**{k: _s(d.get(k)) for k in ("path", "description")}) for d in raw.get("docs") or ()),
        prompts=tuple(Prompt(**{k: _s(d.get(k)) for k in ("name", "path", "description")})
                      for d in raw.get("prompts") or ()),
        mcp_servers=tuple(MCPServer(**{k: _s(d.get(k)) for k in ("name", "path", "description")})
                          for d in raw.get("mcpServers") or ()),
        source=source,
        path_lines=lines,
    )


def _s(value: Any) -> str | None:
    """Empty strings are "omitted" (Go's zero value)."""
    return value if value else None


def _clean_dict(obj: Mapping[Any, Any], source: str, path: tuple[str | int, ...]) -> dict[str, Any]:
    """A plain dict/list copy of a Kitfile-shaped mapping; None values dropped; parameters checked."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise KitfileError(f"{source}: {fmt_path(path)}: keys must be strings, got {value_kind(k)}")
        if v is None:
            continue
        sub = (*path, k)
        if k == "parameters" and (path == ("model",) or (len(path) == 2 and path[0] == "datasets")):
            out[k] = check_json(v, source, sub)
        elif isinstance(v, Mapping):
            out[k] = _clean_dict(v, source, sub)
        elif isinstance(v, (list, tuple)):
            out[k] = [_clean_dict(x, source, (*sub, i)) if isinstance(x, Mapping) else x for i, x in enumerate(v)]
        else:
            out[k] = v
    return out


def check_json(value: Any, source: str, path: tuple[str | int, ...], depth: int = 0) -> Any:
    """A JSON value given as Python values (``from_dict`` parameters, ``init --params`` JSON files),
    checked as the YAML loader checks ``parameters``: string keys, no NaN/infinity, bounded depth."""
    if depth > MAX_DEPTH:
        raise KitfileError(f"{source}: {fmt_path(path)}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str):
            check_unicode(value, source, None, path)
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise KitfileError(f"{source}: {fmt_path(path)}: NaN or infinity cannot be represented in JSON")
        return value
    if isinstance(value, (list, tuple)):
        return [check_json(x, source, (*path, i), depth + 1) for i, x in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise KitfileError(f"{source}: {fmt_path(path)}: parameter keys must be strings, "
                                   f"got {value_kind(k)} {k!r}")
            out[k] = check_json(v, source, (*path, k), depth + 1)
        return out
    raise KitfileError(f"{source}: {fmt_path(path)}: {value_kind(value)} is not a JSON value")


def _path_lines(root: Node) -> dict[tuple[str, int], int]:
    """Line of each element's ``path`` value, for check_paths messages."""
    lines: dict[tuple[str, int], int] = {}

    def child(node: Node | None, key: str) -> Node | None:
        if node is None or node.kind != "map":
            return None
        for k, v in node.value:
            if k.kind == "scalar" and k.value == key:
                found: Node = v
                return found
        return None

    def element_lines(seq: Node | None, section: str) -> None:
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
    for section in ("code", "datasets", "docs", "prompts", "mcpServers"):
        element_lines(child(root, section), section)
    return lines


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
