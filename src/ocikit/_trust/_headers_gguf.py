"""The GGUF header (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): metadata and tensor
infos read with the ``gguf`` package's ``GGUFReader``, which memory-maps the file and touches only
the pages it parses (tensor data stays unread views); counts and offsets checked here again.
"""

from __future__ import annotations

import itertools
import math
import struct
import warnings
from typing import Any, BinaryIO

from ocikit._trust._header_types import ModelHeader, dtype_counts

__all__ = ["read_gguf"]

#: More tensors or metadata keys than this is not a model header but a way to make a reader spin.
_MAX_COUNT = 1_000_000


def read_gguf(f: BinaryIO, file_size: int, local: object = None) -> ModelHeader:
    """The header of the GGUF file ``f`` (``file_size`` bytes). ``local`` names it in log messages."""
    head = f.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        return ModelHeader("gguf", problems=("not a GGUF file (no GGUF magic)",))
    version, tensor_count, kv_count = struct.unpack("<IQQ", head[4:])
    if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
        return ModelHeader("gguf", problems=(f"header claims {tensor_count} tensors and {kv_count} metadata "
                                             f"keys (at most {_MAX_COUNT} each are read)",))
    f.seek(0)
    try:
        reader = _reader(f)
    except Exception as e:  # a hostile file makes a third-party parser raise anything
        return ModelHeader("gguf", problems=(f"GGUF header rejected: {type(e).__name__}: {e}",))
    try:
        return _summarise(reader, file_size, version)
    finally:
        del reader


def _reader(f: BinaryIO) -> Any:
    from gguf import GGUFReader

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy overflow in a size → rejected, not a wrapped count
        return GGUFReader(f, "r")  # type: ignore[arg-type]  # np.memmap takes an open file too


def _field(reader: Any, key: str) -> Any:
    field = reader.get_field(key)
    if field is None:
        return None
    try:
        return field.contents()
    except Exception:  # see read_gguf
        return None


def _summarise(reader: Any, file_size: int, version: int) -> ModelHeader:
    from gguf import GGML_QUANT_SIZES, LlamaFileType

    problems: list[str] = []
    ranges: list[tuple[int, int, str]] = []
    params = 0
    types: list[str] = []
    for t in reader.tensors:
        n = math.prod(int(d) for d in t.shape)
        block, type_size = GGML_QUANT_SIZES[t.tensor_type]
        size = n * type_size // block
        begin = int(t.data_offset)
        if begin + size > file_size:
            problems.append(f"tensor {t.name!r} ends at {begin + size}, past the {file_size}-byte file")
        ranges.append((begin, begin + size, t.name))
        params += n
        types.append(t.tensor_type.name)
    ranges.sort()
    for (_, prev_end, prev), (begin, _, name) in itertools.pairwise(ranges):
        if begin < prev_end:
            problems.append(f"tensors {prev!r} and {name!r} overlap")
    if problems:
        return ModelHeader("gguf", problems=tuple(problems[:5]))
    arch = _field(reader, "general.architecture")
    file_type = _field(reader, "general.file_type")
    quant = None
    if isinstance(file_type, int):
        try:
            quant = LlamaFileType(file_type).name
        except ValueError:
            quant = str(file_type)
    extra = [("ggufVersion", str(version))]
    name = _field(reader, "general.name")
    if isinstance(name, str) and name:
        extra.append(("name", name))
    return ModelHeader("gguf", tensor_count=len(ranges), parameter_count=params, dtypes=dtype_counts(types),
                       architecture=arch if isinstance(arch, str) and arch else None, quantization=quant,
                       extra=tuple(sorted(extra)))
