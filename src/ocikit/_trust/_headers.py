"""What a weights file says about its model, read from its header only: format, tensor and parameter
counts, dtypes, architecture and quantisation, and what in the header does not add up.

One reader per format — ``_headers_safetensors`` (https://github.com/huggingface/safetensors, the
8-byte length + JSON header), ``_headers_gguf`` (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md,
read with the ``gguf`` package) and ``_headers_onnx`` (the ``ModelProto`` wire format,
https://github.com/onnx/onnx/blob/main/onnx/onnx.proto, walked without reading tensor data). A
header that lies (offsets past the end, a length larger than the file, overlapping tensors, a
shape that does not fit its bytes) is reported in ``problems`` and its counts are not trusted:
a reader never raises for what a file contains, only the caller's own errors propagate.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Mapping

from ocikit._trust._header_types import ModelHeader, dtype_counts

__all__ = ["HEADER_FORMATS", "ModelHeader", "combine", "dtype_counts", "header_format", "read_header"]

log = logging.getLogger(__name__)

#: File extension → the format whose header is read.
HEADER_FORMATS = {".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx"}


def header_format(path: str) -> str | None:
    """The format whose header :func:`read_header` reads for a file named ``path``, or None."""
    name = path.rstrip("/").rpartition("/")[2].lower()
    dot = name.rfind(".")
    return HEADER_FORMATS.get(name[dot:]) if dot > 0 else None


def read_header(local: str | os.PathLike[str], fmt: str, expected_size: int | None = None) -> ModelHeader:
    """The header of the file at ``local`` in format ``fmt`` (one of :data:`HEADER_FORMATS`' values).

    ``expected_size`` is the size the file was packed with: a file that is not a regular file or
    has another size now is reported, not read. Reads at most the header's bytes.
    """
    try:
        # O_NONBLOCK: a FIFO named like a model never blocks the read (regular files ignore it)
        fd = os.open(local, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        return ModelHeader(fmt, problems=(f"cannot open: {e.strerror or e}",))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return ModelHeader(fmt, problems=("not a regular file",))
    if expected_size is not None and st.st_size != expected_size:
        os.close(fd)
        return ModelHeader(fmt, problems=(f"is {st.st_size} bytes now, {expected_size} when packed",))
    with os.fdopen(fd, "rb") as f:
        try:
            return _read(f, fmt, st.st_size, local)
        except (OSError, MemoryError) as e:
            return ModelHeader(fmt, problems=(f"cannot read the header: {e}",))


def _read(f: object, fmt: str, size: int, local: str | os.PathLike[str]) -> ModelHeader:
    if fmt == "safetensors":
        from ocikit._trust._headers_safetensors import read_safetensors

        return read_safetensors(f, size)  # type: ignore[arg-type]
    if fmt == "gguf":
        from ocikit._trust._headers_gguf import read_gguf

        return read_gguf(f, size, local)  # type: ignore[arg-type]
    if fmt == "onnx":
        from ocikit._trust._headers_onnx import read_onnx

        return read_onnx(f, size)  # type: ignore[arg-type]
    raise ValueError(f"no header reader for {fmt!r}")


def combine(headers: Mapping[str, ModelHeader]) -> ModelHeader | None:
    """The headers of several files (path → header; e.g. the shards of one model) as one: counts
    summed over trusted headers (None if any was not trusted), problems prefixed with the path."""
    if not headers:
        return None
    items = sorted(headers.items())
    trusted = all(h.trusted for _, h in items)

    def total(values: list[int | None]) -> int | None:
        return sum(v for v in values if v is not None) if trusted and None not in values else None

    def joined(values: Iterable[str | None]) -> str | None:
        found = sorted({v for v in values if v})
        return ",".join(found) or None

    counts: dict[str, int] = {}
    for _, h in items:
        for name, n in h.dtypes:
            counts[name] = counts.get(name, 0) + n
    extra: dict[str, str] = {}
    for _, h in items:
        for k, v in h.extra:
            extra.setdefault(k, v)
    return ModelHeader(
        format=joined(h.format for _, h in items) or "",
        tensor_count=total([h.tensor_count for _, h in items]),
        parameter_count=total([h.parameter_count for _, h in items]),
        dtypes=tuple(sorted(counts.items())),
        architecture=joined(h.architecture for _, h in items),
        quantization=joined(h.quantization for _, h in items),
        problems=tuple(f"{path}: {p}" for path, h in items for p in h.problems),
        extra=tuple(sorted(extra.items())),
    )
