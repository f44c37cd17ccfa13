"""The safetensors header: an 8-byte little-endian length, then that many bytes of JSON naming each
tensor's dtype, shape and byte range (https://github.com/huggingface/safetensors#format), checked
against the file it came from.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from typing import Any, BinaryIO

from ocikit._io._json import refuse_duplicate_keys
from ocikit._trust._header_types import ModelHeader, dtype_counts

__all__ = ["MAX_HEADER_BYTES", "read_safetensors"]

#: The largest header read (the safetensors library refuses headers over 100 MB too).
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: Bits per element of each dtype the format defines (safetensors/src/tensor.rs, ``Dtype``).
_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
_MAX_PROBLEMS = 5


class _HeaderError(ValueError):
    pass


def _read_exact(f: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_safetensors(f: BinaryIO, file_size: int) -> ModelHeader:
    """The header of the safetensors file ``f`` (``file_size`` bytes); reads 8 + the header's length."""
    head = _read_exact(f, 8)
    if len(head) < 8:
        return ModelHeader("safetensors", problems=(f"file is {file_size} bytes: too short for a header",))
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER_BYTES:
        return ModelHeader("safetensors", problems=(f"header length {length} is over {MAX_HEADER_BYTES}",))
    if 8 + length > file_size:
        return ModelHeader("safetensors", problems=(f"header length {length} runs past the end of the "
                                                    f"{file_size}-byte file",))
    raw = _read_exact(f, length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=refuse_duplicate_keys(_HeaderError))
    except (_HeaderError, ValueError, UnicodeDecodeError, RecursionError) as e:
        return ModelHeader("safetensors", problems=(f"header is not valid JSON: {e}",))
    if not isinstance(header, dict):
        return ModelHeader("safetensors", problems=("header is not a JSON object",))
    return _check(header, file_size - 8 - length)


def _check(header: dict[str, Any], buffer_size: int) -> ModelHeader:
    """The tensors of ``header`` checked against a data buffer of ``buffer_size`` bytes."""
    problems: list[str] = []
    ranges: list[tuple[int, int, str]] = []
    dtypes: list[str] = []
    params = 0
    metadata = header.get("__metadata__")
    if metadata is not None and not (isinstance(metadata, dict)
                                     and all(isinstance(v, str) for v in metadata.values())):
        problems.append("__metadata__ is not a map of strings")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end, n, dtype = _tensor(name, info, buffer_size)
        except _HeaderError as e:
            problems.append(str(e))
            continue
        ranges.append((begin, end, name))
        dtypes.append(dtype)
        params += n
    ranges.sort()
    for (_, prev_end, prev), (begin, _, name) in itertools.pairwise(ranges):
        if begin < prev_end:
            problems.append(f"tensors {prev!r} and {name!r} overlap")
    covered = ranges[-1][1] if ranges else 0
    if not problems and covered != buffer_size:
        problems.append(f"{buffer_size - covered} bytes after the last tensor are not described by the header")
    if problems:
        more = len(problems) - _MAX_PROBLEMS
        shown = problems[:_MAX_PROBLEMS] + ([f"and {more} more"] if more > 0 else [])
        return ModelHeader("safetensors", problems=tuple(shown))
    extra: tuple[tuple[str, str], ...] = ()
    if isinstance(metadata, dict) and isinstance(metadata.get("format"), str):
        extra = (("weightsFramework", metadata["format"]),)
    return ModelHeader("safetensors", tensor_count=len(ranges), parameter_count=params,
                       dtypes=dtype_counts(dtypes), extra=extra)


def _tensor(name: str, info: Any, buffer_size: int) -> tuple[int, int, int, str]:
    """``(begin, end, elements, dtype)`` of one tensor entry, or _HeaderError saying what is wrong."""
    if not isinstance(info, dict):
        raise _HeaderError(f"tensor {name!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _BITS:
        raise _HeaderError(f"tensor {name!r} has an unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and len(shape) <= 64 and all(type(d) is int and 0 <= d < 1 << 63 for d in shape)):
        raise _HeaderError(f"tensor {name!r} has an invalid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        raise _HeaderError(f"tensor {name!r} has invalid data_offsets")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise _HeaderError(f"tensor {name!r} has data_offsets [{begin}, {end}] out of order")
    if end > buffer_size:
        raise _HeaderError(f"tensor {name!r} ends at {end}, past the {buffer_size}-byte data")
    n = math.prod(shape)
    if n * _BITS[dtype] != (end - begin) * 8:
        raise _HeaderError(f"tensor {name!r}: shape {shape} of {dtype} is {n * _BITS[dtype] / 8:g} bytes, "
                           f"its data_offsets span {end - begin}")
    return begin, end, n, dtype
