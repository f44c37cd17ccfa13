"""The hardened YAML loader: libyaml events → a bounded node tree → plain values, with Go's rules.

Every YAML file ocikit reads goes through here: Kitfiles, ``init --params/--metrics`` files, the
stage policy file and MLflow ``meta.yaml`` (:func:`parse_parameters`).

Loading is deliberately not ``yaml.safe_load`` (docs/reliability.md §H5): we read the libyaml *event*
stream (``CSafeLoader``'s parser; never its constructor) and build the values ourselves, so that

* no tag can construct objects; any tag that is not a standard JSON-like one is refused;
* duplicate keys are errors with both line numbers (PyYAML silently keeps the last);
* aliases are capped by count, the expanded document by node count, and nesting by depth, so an
  alias bomb or a deeply nested document is refused quickly with bounded memory;
* every scalar outside ``parameters`` keeps the text as written, as Go's yaml.v3 does for string
  fields (``version: 1.10`` is ``"1.10"``, ``name: no`` is ``"no"``);
* ``parameters`` are resolved with yaml.v3's rules for ``any`` (``_scalars``: YAML 1.2 booleans, Go
  integer syntax, timestamps stay strings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, BinaryIO

import yaml

from ocikit._kitfile._scalars import NULLS, STD, resolve_plain
from ocikit.errors import KitfileError

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_KITFILE_BYTES",
    "MAX_NODES",
    "Converter",
    "Node",
    "check_unicode",
    "compose",
    "decode",
    "err",
    "fmt_path",
    "node_kind",
    "parse_parameters",
    "read_bounded",
    "too_big",
    "value_kind",
]

#: Largest Kitfile (or config blob) we read. 100 000 dataset entries take about 4.3 MB.
MAX_KITFILE_BYTES = 16 * 1024 * 1024
#: Cap on YAML nodes after alias expansion (a 100 000-entry Kitfile has about 500 000).
MAX_NODES = 1_000_000
#: Kitfiles have no use for aliases; a few are tolerated, more are refused (alias bombs).
MAX_ALIASES = 100
#: Nesting deeper than this is refused (keeps conversion recursion and memory bounded).
MAX_DEPTH = 100


def parse_parameters(text: str, source: str) -> Any:
    """Parse a YAML or JSON document into a JSON value with the ``parameters`` rules (safe, bounded).

    Used for ``ocikit init --params/--metrics`` files, the stage policy file and MLflow files.
    """
    if len(text) > MAX_KITFILE_BYTES:
        raise too_big(source)
    root = compose(text, source)
    if root is None:
        return None
    return Converter(source).json(root, ())


# --------------------------------------------------------------------------------------------
# Reading bytes
# --------------------------------------------------------------------------------------------


def too_big(source: str) -> KitfileError:
    return KitfileError(f"{source}: larger than {MAX_KITFILE_BYTES // (1024 * 1024)} MiB; refusing to parse it",
                        hint="a Kitfile lists paths; put large data in the files it names")


def read_bounded(f: BinaryIO, source: str) -> bytes:
    data = f.read(MAX_KITFILE_BYTES + 1)
    if len(data) > MAX_KITFILE_BYTES:
        raise too_big(source)
    return data


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise KitfileError(f"{source}:{line}: not UTF-8 text (byte {e.start})", hint="save the Kitfile as UTF-8") from e


# --------------------------------------------------------------------------------------------
# YAML: events → nodes (bounded)
# --------------------------------------------------------------------------------------------

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR_TAGS = {f"{STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_SEQ_TAGS = {None, "!", f"{STD}seq"}
_MAP_TAGS = {None, "!", f"{STD}map"}


class Node:
    """A YAML node with its source position; ``size`` counts the nodes it expands to (aliases included)."""

    __slots__ = ("col", "kind", "line", "size", "style", "tag", "value")

    def __init__(self, kind: str, tag: str | None, value: Any, style: str | None, mark: Any) -> None:
        self.kind = kind  # "scalar" | "seq" | "map"
        self.tag = tag
        self.value = value  # str | list[Node] | list[tuple[Node, Node]]
        self.style = style or None  # None = plain
        self.line = mark.line + 1
        self.col = mark.column + 1
        self.size = 1  # nodes after alias expansion


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(STD):] if tag.startswith(STD) else tag


def _tab_at(text: str, mark: Any) -> bool:
    """Whether the YAML error points at a tab (libyaml: "found character that cannot start any token")."""
    if mark is None:
        return False
    lines = text.splitlines()
    return 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]


def compose(text: str, source: str) -> Node | None:
    """Build a node tree from libyaml events, iteratively (no recursion), with all caps enforced."""
    loader = _LOADER(text)
    try:
        return _Composer(source).run(loader)
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


class _Composer:
    """One document's events → nodes, counting nodes after alias expansion, aliases and depth."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.anchors: dict[str, Node] = {}
        self.open_ids: set[int] = set()  # collections still being read: an alias to one is recursive
        self.stack: list[tuple[Node, list[Node | None]]] = []  # (collection, [pending key]) frames
        self.root: Node | None = None
        self.total = 0
        self.aliases = 0

    def run(self, loader: Any) -> Node | None:
        get = loader.get_event
        get()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        get()  # DocumentStart
        while True:
            ev: Any = get()
            if isinstance(ev, yaml.ScalarEvent):
                self._scalar(ev)
            elif isinstance(ev, yaml.AliasEvent):
                self._alias(ev)
            elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                self._start(ev)
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                node, _ = self.stack.pop()
                self.open_ids.discard(id(node))
                self._attach(node)
            elif isinstance(ev, yaml.DocumentEndEvent):
                break
            else:  # pragma: no cover - libyaml only emits the events above inside a document
                raise KitfileError(f"{self.source}: unexpected YAML event {type(ev).__name__}")
        if not loader.check_event(yaml.StreamEndEvent):
            ev = loader.peek_event()
            raise KitfileError(f"{self.source}:{ev.start_mark.line + 1}: more than one YAML document; "
                               "a Kitfile is one document")
        return self.root

    def _count(self, ev: Any, nodes: int) -> None:
        self.total += nodes
        if self.total > MAX_NODES:
            raise _bomb(self.source, ev)

    def _attach(self, node: Node) -> None:
        if not self.stack:
            self.root = node
            return
        parent, pending = self.stack[-1]
        parent.size += node.size
        if parent.kind == "seq":
            parent.value.append(node)
        elif pending[0] is None:
            pending[0] = node
        else:
            parent.value.append((pending[0], node))
            pending[0] = None

    def _scalar(self, ev: Any) -> None:
        if ev.tag is not None and ev.tag != "!" and ev.tag not in _SCALAR_TAGS:
            raise _tag_error(self.source, ev)
        node = Node("scalar", ev.tag, ev.value, ev.style, ev.start_mark)
        self._count(ev, 1)
        if ev.anchor is not None:
            self.anchors[ev.anchor] = node
        self._attach(node)

    def _alias(self, ev: Any) -> None:
        line = _line_of(ev)
        target = self.anchors.get(str(ev.anchor))
        if target is None:
            raise KitfileError(f"{self.source}:{line}: undefined YAML alias *{ev.anchor}")
        if id(target) in self.open_ids:
            raise KitfileError(f"{self.source}:{line}: recursive YAML alias *{ev.anchor}")
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise KitfileError(f"{self.source}:{line}: more than {MAX_ALIASES} YAML aliases; refusing "
                               "(a Kitfile does not need anchors and aliases)", hint="write the values out")
        self._count(ev, target.size)
        self._attach(target)

    def _start(self, ev: Any) -> None:
        is_seq = isinstance(ev, yaml.SequenceStartEvent)
        if ev.tag not in (_SEQ_TAGS if is_seq else _MAP_TAGS):
            raise _tag_error(self.source, ev)
        node = Node("seq" if is_seq else "map", ev.tag, [], None, ev.start_mark)
        self._count(ev, 1)
        if ev.anchor is not None:
            self.anchors[ev.anchor] = node
            self.open_ids.add(id(node))
        self.stack.append((node, [None]))
        if len(self.stack) > MAX_DEPTH:
            raise KitfileError(f"{self.source}:{node.line}: YAML nested deeper than {MAX_DEPTH} levels; refusing")


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


def node_kind(node: Node) -> str:
    if node.kind == "map":
        return "a mapping"
    if node.kind == "seq":
        return "a list"
    return f"the scalar {node.value!r}" if len(node.value) < 40 else "a scalar"


def fmt_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def err(source: str, node: Node | None, path: tuple[str | int, ...], message: str) -> KitfileError:
    loc = f"{source}:{node.line}:{node.col}" if node is not None else source
    return KitfileError(f"{loc}: {fmt_path(path)}: {message}")


def value_kind(value: Any) -> str:
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


# --------------------------------------------------------------------------------------------
# Nodes → values
# --------------------------------------------------------------------------------------------


class Converter:
    """Node tree → Python values. Outside ``parameters``: scalars are their source text (or None for
    a null). Inside: JSON values resolved like yaml.v3."""

    def __init__(self, source: str) -> None:
        self.source = source

    def raw(self, node: Node, path: tuple[str | int, ...]) -> Any:
        if node.kind == "scalar":
            return self._text(node, path)
        if node.kind == "seq":
            return [self.raw(child, (*path, i)) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, json_mode=False)
            if key in lines:
                raise err(self.source, key_node, (*path, key),
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

    def _text(self, node: Node, path: tuple[str | int, ...]) -> str | None:
        text: str = node.value
        if node.style is None and node.tag in (None, f"{STD}null") and text in NULLS:
            return None
        if node.tag == f"{STD}null":
            raise err(self.source, node, path, f"!!null tag on non-null value {text!r}")
        check_unicode(text, self.source, node, path)
        return text

    def _key(self, node: Node, path: tuple[str | int, ...], *, json_mode: bool) -> str:
        if node.kind != "scalar":
            raise err(self.source, node, path, f"mapping keys must be strings, got {node_kind(node)}")
        if node.style is None and node.tag is None and node.value == "<<":
            raise err(self.source, node, path, "YAML merge keys (<<) are not supported; write the values out")
        if json_mode:
            value = self._scalar_json(node, path)
            if not isinstance(value, str):
                raise err(self.source, node, path,
                           f"mapping key {node.value!r} is a {value_kind(value)}; "
                           "parameter keys must be strings (quote it)")
            return value
        check_unicode(node.value, self.source, node, path)
        return str(node.value)

    def json(self, node: Node, path: tuple[str | int, ...]) -> Any:
        if node.kind == "scalar":
            return self._scalar_json(node, path)
        if node.kind == "seq":
            return [self.json(child, (*path, i)) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path, json_mode=True)
            if key in lines:
                raise err(self.source, key_node, (*path, key), f"duplicate key (first defined on line {lines[key]})")
            lines[key] = key_node.line
            out[key] = self.json(value_node, (*path, key))
        return out

    def _scalar_json(self, node: Node, path: tuple[str | int, ...]) -> Any:
        text: str = node.value
        tag = node.tag
        check_unicode(text, self.source, node, path)
        if tag in (f"{STD}str", f"{STD}timestamp", "!") or (tag is None and node.style is not None):
            return text
        value = resolve_plain(text)
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise err(self.source, node, path, f"{text!r} (NaN or infinity) cannot be represented in JSON")
        if tag is None:
            return value
        want = tag[len(STD):]
        if want == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, float), "bool": isinstance(value, bool), "null": value is None}[want]
        if not ok:
            raise err(self.source, node, path, f"cannot read {text!r} as !!{want}")
        return value


def check_unicode(text: str, source: str, node: Node | None, path: tuple[str | int, ...]) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise err(source, node, path, "string contains an invalid Unicode escape (lone surrogate)") from e
