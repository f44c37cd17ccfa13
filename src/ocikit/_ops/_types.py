"""The value sets of ``pack``'s string options, as types (``typing.Literal``).

They name what ``_layers._types.COMPRESSIONS`` and ``_modelkit._modelpack.FORMATS`` list at run time
(``tests/unit/test_pack.py`` checks the two agree); ``pack``/``plan_pack`` still check the values,
since a caller need not be type-checked.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Compression", "Format", "LayerFormat"]

#: Layer compression: ``none`` (default), ``gzip``, ``gzip-fastest`` (gzip level 1) or ``zstd``
#: (kit older than 1.15 cannot read zstd).
Compression = Literal["none", "gzip", "gzip-fastest", "zstd"]

#: What ``pack`` writes: ``kitops`` (a KitOps ModelKit, default) or ``modelpack`` (a CNCF ModelPack).
Format = Literal["kitops", "modelpack"]

#: How ``pack`` stores an element: ``tar`` (default) or ``raw`` (one file per layer, kit 1.17's
#: ``--layer-format raw``; every element must then name one file).
LayerFormat = Literal["tar", "raw"]
