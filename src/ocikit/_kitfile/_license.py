"""License detection for ``ocikit init``: the SPDX id of a license file, by a small heuristic.

``SPDX-License-Identifier`` wins; otherwise the well-known license titles and phrases are matched,
and an id is returned only when exactly one license matches, as kit does.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

__all__ = ["detect_license"]

log = logging.getLogger(__name__)


def detect_license(path: str | os.PathLike[str]) -> str | None:
    """SPDX id of a license file, if exactly one well-known license matches; else None."""
    try:
        with open(path, "rb") as f:
            text = f.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    spdx = re.search(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+-]+)*)", text)
    if spdx:
        return spdx.group(1)
    flat = " ".join(text.lower().split())
    head = flat[:400]
    matches = {lic for lic, test in _LICENSE_RULES if test(flat, head)}
    if len(matches) == 1:
        return matches.pop()
    log.debug("license detection for %s: %s", path, sorted(matches) or "no match")
    return None


def _gpl_family(head: str) -> str | None:
    if "gnu affero general public license" in head:
        return "AGPL-3.0"
    if "gnu lesser general public license" in head:
        return "LGPL-3.0" if "version 3" in head else "LGPL-2.1"
    if "gnu general public license" in head:
        return "GPL-3.0" if "version 3" in head else "GPL-2.0"
    return None


_LICENSE_RULES: tuple[tuple[str, Any], ...] = (
    ("Apache-2.0", lambda t, h: "apache license" in h and "version 2.0" in h),
    ("MIT", lambda t, h: "permission is hereby granted, free of charge, to any person obtaining a copy" in t),
    ("BSD-3-Clause", lambda t, h: "redistribution and use in source and binary forms" in t
     and "neither the name" in t),
    ("BSD-2-Clause", lambda t, h: "redistribution and use in source and binary forms" in t
     and "neither the name" not in t and "gnu" not in h),
    ("MPL-2.0", lambda t, h: "mozilla public license" in h and "2.0" in h),
    ("Unlicense", lambda t, h: "this is free and unencumbered software released into the public domain" in t),
    ("ISC", lambda t, h: "permission to use, copy, modify, and/or distribute this software for any purpose" in t),
    ("BSL-1.0", lambda t, h: "boost software license" in h),
    ("CC-BY-4.0", lambda t, h: "attribution 4.0 international" in h and "sharealike" not in h
     and "noncommercial" not in h),
    ("CC-BY-SA-4.0", lambda t, h: "attribution-sharealike 4.0 international" in h),
    ("CC0-1.0", lambda t, h: "cc0 1.0 universal" in h),
    ("AGPL-3.0", lambda t, h: _gpl_family(h) == "AGPL-3.0"),
    ("LGPL-3.0", lambda t, h: _gpl_family(h) == "LGPL-3.0"),
    ("LGPL-2.1", lambda t, h: _gpl_family(h) == "LGPL-2.1"),
    ("GPL-3.0", lambda t, h: _gpl_family(h) == "GPL-3.0"),
    ("GPL-2.0", lambda t, h: _gpl_family(h) == "GPL-2.0"),
)
