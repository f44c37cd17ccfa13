"""Promotion gates: a tiny, safe expression language over a ModelKit's config, and the stage policy.

An expression is exactly ``<dotted path> <operator> <literal>``::

    model.parameters.metrics.f1 >= 0.90
    package.version != "0.0.0"
    datasets.0.name == 'reviews'

* the path walks the Kitfile config JSON (``package``, ``model``, ``code``, ``datasets``, ``docs``);
  a segment that is all digits indexes a list;
* the operator is one of ``== != < <= > >=``;
* the literal is a number, a quoted string (``'…'`` or ``"…"``, ``\\`` escapes the next character),
  ``true``, ``false`` or ``null``. Strings, booleans and null only compare with ``==``/``!=``.

It is parsed by hand, never evaluated as Python. A number literal compares numerically with a
number in the config, or with a string holding a finite decimal number (YAML authors often quote
metrics). Anything else (missing path, wrong type) is a *failed* gate that says what it found.

The policy file (YAML, see ``docs/stages.md``) says per stage which expressions apply, from which
stages a candidate must come (``from``) and which public keys must have signed it (``signed_by``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocikit.errors import UsageError

__all__ = [
    "OPERATORS",
    "Expression",
    "GateResult",
    "Policy",
    "StagePolicy",
    "evaluate",
    "load_policy",
    "parse_all",
    "parse_expression",
]

OPERATORS = ("==", "!=", "<=", ">=", "<", ">")  # longest first, so "<=" is not read as "<"
_ORDERING = frozenset({"<", "<=", ">", ">="})
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*|[0-9]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMERIC_STRING = re.compile(r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$")
_KEYWORDS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_MAX_EXPRESSION = 1024
_MISSING = object()

Literal = int | float | str | bool | None


@dataclass(frozen=True)
class Expression:
    """A parsed gate. ``str(parse_expression(t))`` is a normalised form of ``t``."""

    text: str
    path: tuple[str, ...]
    op: str
    value: Literal

    def __str__(self) -> str:
        return self.text


def _bad(text: str, pos: int, what: str) -> UsageError:
    return UsageError(
        f"invalid gate expression {text!r} at character {pos + 1}: {what}",
        hint="write <dotted.path> <op> <number|'string'>, e.g. 'model.parameters.metrics.f1 >= 0.9'; "
        "op is one of == != < <= > >=",
    )


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def parse_expression(text: str) -> Expression:
    """Parse one gate expression. Raises UsageError (exit 2) naming the position of the problem."""
    if not text.strip():
        raise UsageError("empty gate expression", hint="e.g. --require 'model.parameters.metrics.f1 >= 0.9'")
    if len(text) > _MAX_EXPRESSION:
        raise UsageError(f"gate expression longer than {_MAX_EXPRESSION} characters")
    path, pos = _parse_path(text, _skip_space(text, 0))
    pos = _skip_space(text, pos)
    op = next((o for o in OPERATORS if text.startswith(o, pos)), None)
    if op is None:
        raise _bad(text, pos, "expected an operator (== != < <= > >=)")
    value, pos = _parse_literal(text, _skip_space(text, pos + len(op)))
    pos = _skip_space(text, pos)
    if pos != len(text):
        raise _bad(text, pos, f"unexpected {text[pos:]!r} after the value")
    if op in _ORDERING and (isinstance(value, (str, bool)) or value is None):
        raise _bad(text, text.find(op), f"{op} needs a number; strings, booleans and null only take == and !=")
    normal = f"{'.'.join(path)} {op} {_literal_text(value)}"
    return Expression(normal, tuple(path), op, value)


def _parse_path(text: str, pos: int) -> tuple[list[str], int]:
    """The dotted config path at ``pos``, and the position after it."""
    path: list[str] = []
    while True:
        m = _SEGMENT.match(text, pos)
        if not m:
            raise _bad(text, pos, "expected a config path such as model.parameters.metrics.f1")
        path.append(m.group())
        pos = m.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return path, pos


def _parse_literal(text: str, pos: int) -> tuple[Literal, int]:
    """The literal at ``pos`` (quoted string, number, true/false/null), and the position after it."""
    if pos < len(text) and text[pos] in "'\"":
        return _parse_string(text, pos)
    m = _NUMBER.match(text, pos)
    word = re.match(r"[a-z]+", text[pos:])
    if m:
        literal = m.group()
        value = float(literal) if any(c in literal for c in ".eE") else int(literal)
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad(text, pos, "number out of range")
        return value, m.end()
    if word and word.group() in _KEYWORDS:
        return _KEYWORDS[word.group()], pos + len(word.group())
    raise _bad(text, pos, "expected a number, a quoted string, true, false or null")


def _parse_string(text: str, pos: int) -> tuple[str, int]:
    """The string quoted at ``pos`` (``\\`` escapes the next character), and the position after it."""
    quote = text[pos]
    pos += 1
    chars: list[str] = []
    while True:
        if pos >= len(text):
            raise _bad(text, pos, "unterminated string")
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
            continue
        pos += 1
        if ch == quote:
            return "".join(chars), pos
        chars.append(ch)


def _literal_text(value: Literal) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate, as recorded in the stage event.

    ``source`` is ``require`` (a ``--require`` expression) or ``policy`` (from the policy file);
    ``actual`` is the value found (JSON scalar, None when missing or not a scalar).
    """

    gate: str
    source: str
    passed: bool
    actual: Any = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "source": self.source, "passed": self.passed,
                "actual": self.actual, "detail": self.detail}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> GateResult:
        return cls(str(obj["gate"]), str(obj["source"]), bool(obj["passed"]), obj.get("actual"),
                   str(obj.get("detail", "")))


def _lookup(document: Any, path: Sequence[str]) -> Any:
    node = document
    for segment in path:
        if isinstance(node, Mapping) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return _MISSING
    return node


def _describe(value: Any) -> str:
    if value is _MISSING:
        return "not set"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return _literal_text(value)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    if op == ">":
        return bool(actual > expected)
    return bool(actual >= expected)


def evaluate(expr: Expression, document: Any, *, source: str = "require") -> GateResult:
    """Evaluate ``expr`` against the config ``document`` (parsed JSON). Never raises for data."""
    found = _lookup(document, expr.path)
    shown = _describe(found)
    scalar = found if isinstance(found, (int, float, str, bool)) or found is None else None

    def result(passed: bool, detail: str) -> GateResult:
        return GateResult(expr.text, source, passed, scalar, detail)

    if found is _MISSING:
        return result(False, f"{'.'.join(expr.path)} is not set in the ModelKit config")
    expected = expr.value
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number: float | int | None = None
        if isinstance(found, (int, float)) and not isinstance(found, bool):
            number = found
        elif isinstance(found, str) and _NUMERIC_STRING.match(found):
            number = float(found)
        if number is None or not math.isfinite(number):
            return result(False, f"{'.'.join(expr.path)} is {shown}, not a number")
        passed = _compare(number, expr.op, expected)
    else:
        # == / != on strings, booleans, null: same type and value (1 is not true, "1" is not 1)
        same = type(found) is type(expected) and found == expected
        passed = same if expr.op == "==" else not same
    return result(passed, f"{'.'.join(expr.path)} is {shown}")


# --------------------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class StagePolicy:
    """What the policy file asks of one stage."""

    stage: str
    require: tuple[Expression, ...] = ()
    from_stages: tuple[str, ...] = ()
    signed_by: tuple[Path, ...] = ()
    #: trust requirements beyond a signature, each checked with the ``signed_by`` keys:
    #: ``provenance`` (a SLSA provenance attestation) and ``oms`` (an OMS signature of the files)
    trust: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A parsed policy file. ``for_stage`` refuses unlisted stages unless ``allow_unlisted``."""

    source: str
    stages: Mapping[str, StagePolicy] = field(default_factory=dict)
    allow_unlisted: bool = True

    def for_stage(self, stage: str) -> StagePolicy | None:
        """The rules for ``stage``; None when unlisted and allowed. Raises GateError if refused."""
        if stage in self.stages:
            return self.stages[stage]
        if self.allow_unlisted:
            return None
        from ocikit.errors import GateError

        listed = ", ".join(sorted(self.stages)) or "none"
        raise GateError(
            f"policy {self.source} does not allow stage {stage!r} (allowed: {listed})",
            hint="add the stage to the policy file or set allow_unlisted: true",
        )


#: ``check(name, where)`` raises UsageError for a name that is not a valid stage name
StageNameCheck = Callable[[str, str], None]

_POLICY_KEYS = {"version", "allow_unlisted", "stages"}
_STAGE_KEYS = {"require", "from", "signed_by"}
#: Words that ``require`` accepts besides expressions (an expression always has an operator).
TRUST_REQUIREMENTS = ("provenance", "oms")


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UsageError(f"{where} must be a string or a list of strings")


def load_policy(path: str | os.PathLike[str], *, stage_name_check: StageNameCheck | None = None) -> Policy:
    """Load and validate a policy file. Key paths in ``signed_by`` are relative to the file.

    ``stage_name_check(name, where)`` validates stage names (the stages module passes its own).
    Raises UsageError naming the file and field on any problem.
    """
    source = Path(path)
    raw = _read_policy_file(source)
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        raise UsageError(f"policy file {source}: unknown key {sorted(map(str, unknown))[0]!r}",
                         hint="known keys: version, allow_unlisted, stages")
    if raw.get("version", 1) != 1:
        raise UsageError(f"policy file {source}: version must be 1")
    allow = raw.get("allow_unlisted", True)
    if not isinstance(allow, bool):
        raise UsageError(f"policy file {source}: allow_unlisted must be true or false")
    stages_raw = raw.get("stages") or {}
    if not isinstance(stages_raw, dict):
        raise UsageError(f"policy file {source}: stages must map stage names to rules")
    stages: dict[str, StagePolicy] = {}
    for name, rules in stages_raw.items():
        stages[name] = _stage_policy(source, name, rules, stage_name_check)
    return Policy(str(source), stages, allow)


def _read_policy_file(source: Path) -> dict[Any, Any]:
    """The policy file's top-level mapping (empty for an empty file). Raises UsageError."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read policy file {source}: {e.strerror or e}",
                         hint="pass an existing YAML file to --policy") from e
    from ocikit._kitfile._yaml import parse_parameters
    from ocikit.errors import KitfileError

    # The hardened loader Kitfiles use: no object tags, no aliases bombs, and a duplicate key is
    # an error instead of silently letting the last one win (a second 'production:' would
    # quietly replace the first stage's rules).
    try:
        raw = parse_parameters(text, str(source))
    except KitfileError as e:
        raise UsageError(f"policy file {source} is not valid YAML: {e}", hint=e.hint) from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UsageError(f"policy file {source}: the top level must be a mapping")
    return raw


def _stage_policy(source: Path, name: Any, rules: Any, stage_name_check: StageNameCheck | None) -> StagePolicy:
    """The rules of one stage of the policy file ``source``. Raises UsageError naming the field."""
    where = f"policy file {source}: stages.{name}"
    if not isinstance(name, str):
        raise UsageError(f"{where}: stage names must be strings")
    if stage_name_check is not None:
        stage_name_check(name, where)
    rules = rules or {}
    if not isinstance(rules, dict):
        raise UsageError(f"{where} must be a mapping with require, from, signed_by")
    bad = set(rules) - _STAGE_KEYS
    if bad:
        raise UsageError(f"{where}: unknown key {sorted(map(str, bad))[0]!r}",
                         hint="known keys: require, from, signed_by")
    require: list[Expression] = []
    trust: list[str] = []
    for i, text_expr in enumerate(_string_list(rules.get("require", []), f"{where}.require")):
        if text_expr.strip() in TRUST_REQUIREMENTS:
            trust.append(text_expr.strip())
            continue
        try:
            require.append(parse_expression(text_expr))
        except UsageError as e:
            raise UsageError(f"{where}.require[{i}]: {e}", hint=e.hint) from e
    from_stages = _string_list(rules.get("from", []), f"{where}.from")
    for other in from_stages:
        if stage_name_check is not None:
            stage_name_check(other, f"{where}.from")
    keys = tuple(source.parent / k for k in _string_list(rules.get("signed_by", []), f"{where}.signed_by"))
    if trust and not keys:
        raise UsageError(f"{where}: require: {trust[0]} needs signed_by keys to check it with",
                         hint="add signed_by: [release.pub]")
    return StagePolicy(name, tuple(require), tuple(from_stages), keys, tuple(dict.fromkeys(trust)))


def parse_all(texts: Iterable[str]) -> tuple[Expression, ...]:
    """Parse every ``--require`` expression up front, so a typo fails before anything is read."""
    return tuple(parse_expression(t) for t in texts)
