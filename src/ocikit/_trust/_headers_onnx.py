"""The ONNX model's "header": producer, opsets and the initializers' names, dtypes and dims, taken
from the ``ModelProto`` protobuf (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) by
walking its wire format (https://protobuf.dev/programming-guides/encoding/) and seeking past
every tensor's data, so a 2 GB model costs a few reads, not 2 GB.

``onnx.load(..., load_external_data=False)`` still parses (and holds) the embedded weights; this
walk reads only tags, lengths and the small fields it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, BinaryIO

from ocikit._trust._header_types import ModelHeader, dtype_counts

__all__ = ["read_onnx"]

#: ``TensorProto.DataType``: number → (name, bits per element; 0 = no fixed size).
_DTYPES = {
    1: ("FLOAT", 32), 2: ("UINT8", 8), 3: ("INT8", 8), 4: ("UINT16", 16), 5: ("INT16", 16),
    6: ("INT32", 32), 7: ("INT64", 64), 8: ("STRING", 0), 9: ("BOOL", 8), 10: ("FLOAT16", 16),
    11: ("DOUBLE", 64), 12: ("UINT32", 32), 13: ("UINT64", 64), 14: ("COMPLEX64", 64),
    15: ("COMPLEX128", 128), 16: ("BFLOAT16", 16), 17: ("FLOAT8E4M3FN", 8), 18: ("FLOAT8E4M3FNUZ", 8),
    19: ("FLOAT8E5M2", 8), 20: ("FLOAT8E5M2FNUZ", 8), 21: ("UINT4", 4), 22: ("INT4", 4),
    23: ("FLOAT4E2M1", 4), 24: ("FLOAT8E8M0", 8), 25: ("UINT2", 2), 26: ("INT2", 2),
    27: ("FLOAT6E2M3", 6), 28: ("FLOAT6E3M2", 6),
}
_MAX_FIELDS = 5_000_000  # tags read in all; a model has a few per node and initializer
_MAX_TEXT = 64 * 1024  # a kept string field (producer, domain, tensor name) is read up to this


class _WireError(ValueError):
    pass


class _Walker:
    """Protobuf wire-format reading from a seekable file, bounded by the enclosing message's end."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.pos = 0
        self.fields = 0

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.f.read(1)
            if not b:
                raise _WireError("truncated varint")
            self.pos += 1
            out |= (b[0] & 0x7F) << shift
            if not b[0] & 0x80:
                return out
            shift += 7
            if shift > 63:
                raise _WireError("varint longer than 10 bytes")

    def skip_to(self, pos: int) -> None:
        self.f.seek(pos)
        self.pos = pos

    def fields_until(self, end: int) -> Iterator[tuple[int, int, Any]]:
        """``(number, wire type, value)`` for each field up to ``end``: a varint's value, or the end
        offset of a length-delimited field (the caller reads or skips it), else None."""
        while self.pos < end:
            self.fields += 1
            if self.fields > _MAX_FIELDS:
                raise _WireError(f"more than {_MAX_FIELDS} protobuf fields")
            tag = self.varint()
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                yield number, wire, self.varint()
            elif wire in (1, 5):
                self.skip_to(self.pos + (8 if wire == 1 else 4))
                yield number, wire, None
            elif wire == 2:
                length = self.varint()
                field_end = self.pos + length
                if field_end > end:
                    raise _WireError(f"field {number} runs {field_end - end} bytes past its message")
                yield number, wire, field_end
                if self.pos != field_end:
                    self.skip_to(field_end)
            else:
                raise _WireError(f"unsupported wire type {wire}")
        if self.pos != end:
            raise _WireError("a field runs past the end of its message")

    def text(self, end: int) -> str:
        data = self.f.read(min(end - self.pos, _MAX_TEXT))
        self.pos += len(data)
        return data.decode("utf-8", errors="replace")


def read_onnx(f: BinaryIO, file_size: int) -> ModelHeader:
    """The header of the ONNX model ``f`` (``file_size`` bytes): reads tags and small fields only."""
    w = _Walker(f)
    info: dict[str, str] = {}
    opsets: list[str] = []
    tensors: list[tuple[str, int]] = []  # (dtype, elements)
    problems: list[str] = []
    try:
        for number, wire, value in w.fields_until(file_size):
            if wire != 2 and number in (2, 3, 7, 8):
                raise _WireError(f"ModelProto field {number} has wire type {wire}")
            if number == 1 and wire == 0:
                info["irVersion"] = str(value)
            elif number in (2, 3):
                info["producer" if number == 2 else "producerVersion"] = w.text(value)
            elif number == 8:
                opsets.append(_opset(w, value))
            elif number == 7:
                _graph(w, value, tensors, problems)
    except _WireError as e:
        return ModelHeader("onnx", problems=(f"not a valid ONNX ModelProto: {e}",))
    if "irVersion" not in info:
        return ModelHeader("onnx", problems=("not an ONNX model: no ir_version",))
    if problems:
        return ModelHeader("onnx", problems=tuple(problems[:5]))
    if opsets:
        info["opsets"] = ",".join(sorted(opsets))
    return ModelHeader("onnx", tensor_count=len(tensors), parameter_count=sum(n for _, n in tensors),
                       dtypes=dtype_counts(d for d, _ in tensors), extra=tuple(sorted(info.items())))


def _opset(w: _Walker, end: int) -> str:
    domain, version = "ai.onnx", 0
    for number, wire, value in w.fields_until(end):
        if number == 1 and wire == 2:
            domain = w.text(value) or "ai.onnx"
        elif number == 2 and wire == 0:
            version = value
    return f"{domain}:{version}"


def _graph(w: _Walker, end: int, tensors: list[tuple[str, int]], problems: list[str]) -> None:
    for number, wire, value in w.fields_until(end):
        if number == 5 and wire == 2:  # GraphProto.initializer
            _initializer(w, value, tensors, problems)


def _initializer(w: _Walker, end: int, tensors: list[tuple[str, int]], problems: list[str]) -> None:
    """One ``TensorProto``: dims (packed or not), data_type, name; ``raw_data`` only measured."""
    dims: list[int] = []
    dtype, name, raw = 0, "", None
    external = False
    for number, wire, value in w.fields_until(end):
        if number == 1 and wire == 0:
            dims.append(value)
        elif number == 1 and wire == 2:
            while w.pos < value:
                dims.append(w.varint())
        elif number == 2 and wire == 0:
            dtype = value
        elif number == 8 and wire == 2:
            name = w.text(value)
        elif number == 9 and wire == 2:
            raw = value - w.pos
        elif number == 14 and wire == 0:
            external = value == 1
    dims = [d - (1 << 64) if d >= 1 << 63 else d for d in dims]  # int64 as two's complement
    if any(d < 0 for d in dims):
        problems.append(f"initializer {name!r} has a negative dimension {dims}")
        return
    if dtype not in _DTYPES:
        problems.append(f"initializer {name!r} has an unknown data_type {dtype}")
        return
    type_name, bits = _DTYPES[dtype]
    n = math.prod(dims)
    if raw is not None and not external and bits and -(-n * bits // 8) != raw:
        problems.append(f"initializer {name!r}: dims {dims} of {type_name} is {-(-n * bits // 8)} bytes, "
                        f"its raw_data is {raw}")
        return
    tensors.append((type_name, n))
