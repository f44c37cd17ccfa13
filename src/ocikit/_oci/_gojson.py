"""The one JSON encoder: compact JSON byte-for-byte as Go's ``encoding/json`` ``json.Marshal`` writes it.

Everything whose bytes must match the Go tools' bytes (manifests, indexes, the Kitfile config blob,
ModelPack configs, signatures' payloads, stage events) is encoded here (``docs/compatibility.md`` §1.2, §2.2):

* dict key order is kept as given: callers build dicts in Go struct order (a Go ``map`` is sorted,
  so callers sort those, e.g. ``parameters``);
* ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped as Go does;
* floats use Go's float64 format (shortest digits, exponent only below 1e-6 or from 1e21);
* NaN and infinities are refused (``ValueError``), as ``json.Marshal`` refuses them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["go_float", "go_json"]

#: What Go escapes beyond what ``json.dumps`` escapes: HTML-sensitive characters and JS line separators.
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                             "\u2028": "\\u2028", "\u2029": "\\u2029"})
#: ``json.dumps(text, ensure_ascii=False)`` for one string, without its per-call setup (C, stdlib).
_quote: Callable[[str], str] = json.encoder.encode_basestring


def go_json(value: Any) -> bytes:
    """``json.Marshal(value)`` for plain values: dicts (order kept), lists, tuples, str, int, float, bool, None."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_quote(value).translate(_GO_ESCAPES))
    elif value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(go_float(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if not isinstance(k, str):
                raise TypeError(f"JSON object keys must be strings, got {type(k).__name__}")
            out.append(f"{',' if i else ''}{_quote(k).translate(_GO_ESCAPES)}:")
            _encode(v, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, x in enumerate(value):
            if i:
                out.append(",")
            _encode(x, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def go_float(f: float) -> str:
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
