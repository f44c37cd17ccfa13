"""The KitOps ``--filter`` grammar for ``unpack`` (docs/compatibility.md §4.10).

``<type>[,<type>…][:<id>[,<id>…]]`` with types ``kitfile``, ``model``, ``datasets``, ``code``,
``docs``. ``model`` also covers the model's parts. An ``<id>`` selects an element whose ``name`` or
``path`` equals it exactly (no path cleaning; code and docs have no name, so only their path
counts). The ids apply to every type listed before the ``:``. Several ``--filter`` options are
OR-ed (``--filter model --filter datasets:validation`` is the model plus one dataset). The Kitfile
is written when any filter lists ``kitfile``. No filter at all means everything, Kitfile included.
``unpack`` refuses a filter that selects no layer unless it lists ``kitfile``.

Examples::

    model                        the model and its parts
    datasets:validation          the dataset named (or with path) "validation"
    model,datasets:validation    the model/parts and datasets whose name or path is "validation"
    kitfile,docs                 the Kitfile and every docs layer
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ocikit.errors import UsageError

__all__ = ["FILTER_TYPES", "Filter", "FilterSet", "parse_filters"]

FILTER_TYPES = ("kitfile", "model", "datasets", "code", "docs", "prompts", "mcpservers")

#: Kitfile section → the filter type that selects it.
_SECTION_TYPE = {"model": "model", "parts": "model", "datasets": "datasets", "code": "code", "docs": "docs",
                 "prompts": "prompts", "mcpServers": "mcpservers"}  # kit 1.17: --filter=mcpservers:<name>


@dataclass(frozen=True)
class Filter:
    types: frozenset[str]
    ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Filter:
        if text.count(":") > 1:
            raise UsageError(f"invalid filter {text!r}: use at most one ':' (<type>[,<type>][:<id>[,<id>]])")
        types_part, sep, ids_part = text.partition(":")
        types = [t.strip() for t in types_part.split(",")]
        for t in types:
            if t not in FILTER_TYPES:
                raise UsageError(
                    f"invalid filter type {t!r} in {text!r} (must be one of 'kitfile', 'model', "
                    "'datasets', 'code', 'docs', 'prompts', or 'mcpservers')"
                )
        ids = tuple(i.strip() for i in ids_part.split(",") if i.strip()) if ids_part else ()
        if sep and not ids:
            raise UsageError(f"invalid filter {text!r}: nothing after ':'")
        return cls(frozenset(types), ids)

    def matches(self, section: str, name: str | None, path: str) -> bool:
        if _SECTION_TYPE.get(section) not in self.types:
            return False
        if not self.ids:
            return True
        if section in ("code", "docs"):
            name = None  # they have no name; only the path counts
        return path in self.ids or (name is not None and name != "" and name in self.ids)

    def __str__(self) -> str:
        text = ",".join(t for t in FILTER_TYPES if t in self.types)
        return f"{text}:{','.join(self.ids)}" if self.ids else text


@dataclass(frozen=True)
class FilterSet:
    """Several filters OR-ed; empty = everything."""

    filters: tuple[Filter, ...] = ()

    @property
    def is_everything(self) -> bool:
        return not self.filters

    @property
    def includes_kitfile(self) -> bool:
        return self.is_everything or any("kitfile" in f.types for f in self.filters)

    def matches(self, section: str, name: str | None, path: str) -> bool:
        return self.is_everything or any(f.matches(section, name, path) for f in self.filters)

    def for_parent(self) -> FilterSet | None:
        """Filters for a parent ModelKit (model.path reference): only the ``model`` part.

        ``None`` means the parent contributes nothing (no filter asked for the model).
        """
        if self.is_everything:
            return FilterSet((Filter(frozenset({"model"})),))
        kept = tuple(Filter(frozenset({"model"}), f.ids) for f in self.filters if "model" in f.types)
        return FilterSet(kept) if kept else None

    def __str__(self) -> str:
        return " | ".join(str(f) for f in self.filters) if self.filters else "everything"


def parse_filters(texts: Iterable[str] | FilterSet | None) -> FilterSet:
    if texts is None:
        return FilterSet()
    if isinstance(texts, FilterSet):
        return texts
    if isinstance(texts, str):
        texts = [texts]
    return FilterSet(tuple(Filter.parse(t) for t in texts))
