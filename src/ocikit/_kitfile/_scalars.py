"""How Go's ``gopkg.in/yaml.v3`` reads a plain scalar decoded into ``any`` (``resolve.go``).

The loader (``_yaml``) uses it for ``parameters`` values; the dumper (``_dump``) uses it to quote a
string that yaml.v3 would otherwise read back as something else.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["NULLS", "STD", "resolve_plain"]

#: The prefix of the standard YAML tags (``!!str`` is ``tag:yaml.org,2002:str``).
STD = "tag:yaml.org,2002:"


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
NULLS = frozenset(("", "~", "null", "Null", "NULL"))
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


def resolve_plain(text: str) -> Any:
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

