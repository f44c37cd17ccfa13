"""Weights headers read without the weights: safetensors, GGUF and ONNX files written by their own
libraries; headers that lie are reported, never trusted; a large file costs only its header."""

from __future__ import annotations

import ctypes
import io
import json
import mmap
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

from ocikit._trust._headers import ModelHeader, combine, header_format, read_header
from ocikit._trust._headers_onnx import read_onnx
from ocikit._trust._headers_safetensors import MAX_HEADER_BYTES, read_safetensors

# -- safetensors -----------------------------------------------------------------------------


def _safetensors(path: Path) -> Path:
    save_file({"embed": np.zeros((10, 4), dtype=np.float32), "bias": np.zeros((4,), dtype=np.float16),
               "ids": np.zeros((3,), dtype=np.int64)}, str(path), metadata={"format": "pt"})
    return path


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _rewrite(path: Path, header: dict[str, Any] | bytes, body: bytes) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    return path


def test_safetensors_header_counts_parameters_and_dtypes(tmp_path: Path) -> None:
    h = read_header(_safetensors(tmp_path / "m.safetensors"), "safetensors")
    assert h.trusted, h.problems
    assert (h.format, h.tensor_count, h.parameter_count) == ("safetensors", 3, 40 + 4 + 3)
    assert h.dtypes == (("F16", 1), ("F32", 1), ("I64", 1))
    assert dict(h.extra) == {"weightsFramework": "pt"}


@pytest.mark.parametrize(("lie", "expected"), [
    ("offset past the end", "past the"),
    ("overlap", "overlap"),
    ("shape does not fit", "its data_offsets span"),
    ("unknown dtype", "unknown dtype"),
    ("trailing data", "not described by the header"),
    ("negative offsets", "out of order"),
])
def test_a_lying_safetensors_header_is_reported_not_trusted(tmp_path: Path, lie: str, expected: str) -> None:
    path = _safetensors(tmp_path / "m.safetensors")
    header, body = _split(path)
    if lie == "offset past the end":
        body = body[:-8]
    elif lie == "overlap":
        a, b = header["embed"]["data_offsets"], header["bias"]["data_offsets"]
        header["bias"]["data_offsets"] = [a[0], a[0] + b[1] - b[0]]
    elif lie == "shape does not fit":
        header["embed"]["shape"] = [10, 5]
    elif lie == "unknown dtype":
        header["ids"]["dtype"] = "Q4"
    elif lie == "trailing data":
        body += b"\0" * 16
    else:
        header["ids"]["data_offsets"] = list(reversed(header["ids"]["data_offsets"]))
    h = read_header(_rewrite(path, header, body), "safetensors")
    assert not h.trusted and h.parameter_count is None and h.tensor_count is None and h.dtypes == ()
    assert any(expected in p for p in h.problems), h.problems


def test_safetensors_duplicate_keys_huge_length_and_length_past_the_file(tmp_path: Path) -> None:
    path = _safetensors(tmp_path / "m.safetensors")
    header, body = _split(path)
    text = json.dumps(header)
    dup = text[:-1] + ', "embed": ' + json.dumps(header["embed"]) + "}"
    h = read_header(_rewrite(tmp_path / "dup.safetensors", dup.encode(), body), "safetensors")
    assert any("duplicate key 'embed'" in p for p in h.problems)

    data = path.read_bytes()
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + data[8:])
    assert any("is over" in p for p in read_header(huge, "safetensors").problems)
    past = tmp_path / "past.safetensors"
    past.write_bytes(struct.pack("<Q", len(data)) + data[8:])
    assert any("runs past the end" in p for p in read_header(past, "safetensors").problems)
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\1\2")
    assert not read_header(short, "safetensors").trusted
    garbage = _rewrite(tmp_path / "g.safetensors", b"[1, 2", b"")
    assert any("not valid JSON" in p for p in read_header(garbage, "safetensors").problems)


class _CountingReader(io.RawIOBase):
    """A file whose reads are counted: what a header reader cost, measured in bytes."""

    def __init__(self, f: Any) -> None:
        self.f, self.bytes_read = f, 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.f.read(n)
        self.bytes_read += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        return int(self.f.seek(pos, whence))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


def test_a_2_gib_sparse_safetensors_file_costs_only_its_header(tmp_path: Path) -> None:
    path = _safetensors(tmp_path / "big.safetensors")
    header, _ = _split(path)
    n = 2 * 1024**3 // 4
    header = {"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}
    raw = json.dumps(header).encode()
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + 4 * n)  # sparse: no block of the 2 GiB is written
    size = path.stat().st_size
    with path.open("rb", buffering=0) as f:
        counting = _CountingReader(f)
        h = read_safetensors(counting, size)  # type: ignore[arg-type]
    assert h.trusted and h.parameter_count == n and h.dtypes == (("F32", 1),)
    assert counting.bytes_read == 8 + len(raw)
    assert read_header(path, "safetensors", expected_size=size).parameter_count == n
    assert _resident_bytes(path) < 16 * 1024**2  # the real file read too: header pages only


def test_a_file_that_changed_since_it_was_packed_is_not_read(tmp_path: Path) -> None:
    path = _safetensors(tmp_path / "m.safetensors")
    h = read_header(path, "safetensors", expected_size=path.stat().st_size + 1)
    assert not h.trusted and "when packed" in h.problems[0]
    assert not read_header(tmp_path, "safetensors").trusted  # a directory
    assert not read_header(tmp_path / "missing", "safetensors").trusted


# -- GGUF ------------------------------------------------------------------------------------


def _gguf(path: Path, *, arch: str = "llama") -> Path:
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-llama")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_tensor("token_embd.weight", np.zeros((4, 64), dtype=np.float32))
    q = gguf.quants.quantize(np.zeros((2, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("output_norm.weight", np.zeros((64,), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_header_gives_architecture_quantization_and_counts(tmp_path: Path) -> None:
    h = read_header(_gguf(tmp_path / "m.gguf"), "gguf")
    assert h.trusted, h.problems
    assert (h.tensor_count, h.parameter_count) == (3, 4 * 64 + 2 * 64 + 64)
    assert h.dtypes == (("F16", 1), ("F32", 1), ("Q8_0", 1))
    assert (h.architecture, h.quantization) == ("llama", "MOSTLY_Q8_0")
    assert dict(h.extra)["name"] == "tiny-llama"


def test_a_truncated_or_lying_gguf_is_reported(tmp_path: Path) -> None:
    data = _gguf(tmp_path / "m.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) - 200])
    h = read_header(cut, "gguf")
    assert not h.trusted and h.parameter_count is None, h
    spin = tmp_path / "spin.gguf"
    spin.write_bytes(data[:8] + struct.pack("<QQ", 2**62, 1) + data[24:])
    assert "at most" in read_header(spin, "gguf").problems[0]
    other = tmp_path / "other.gguf"
    other.write_bytes(b"NOPE" + data[4:])
    assert "magic" in read_header(other, "gguf").problems[0]


def _resident_bytes(path: Path) -> int:
    """How much of ``path`` is in the page cache (mincore(2) over a private mapping, which maps
    without faulting anything in): a sparse file's pages appear there only once something read them."""
    size = path.stat().st_size
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    with path.open("rb") as f:
        mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
    try:
        buf = (ctypes.c_char * size).from_buffer(mm)
        pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        rc = libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_size_t(size), vec)
        del buf
        assert rc == 0, ctypes.get_errno()
        return sum(v & 1 for v in vec) * mmap.PAGESIZE
    finally:
        mm.close()


def test_a_sparse_2_gib_gguf_is_read_without_touching_its_weights(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    n = 512 * 1024**2  # F32: 2 GiB of tensor data, never written
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor_info("w", (n,), np.dtype(np.float32), 4 * n)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header_end = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(header_end + 64 + 4 * n)
    h = read_header(path, "gguf")
    assert h.trusted and h.parameter_count == n, h
    # reading the tensor's pages would put up to 2 GiB of the file in the page cache
    after_header = _resident_bytes(path)
    assert after_header < 16 * 1024**2, after_header
    reader = gguf.GGUFReader(str(path))
    assert int(reader.tensors[0].data[n // 2]) == 0  # the oracle: touching one data page shows up
    del reader
    assert _resident_bytes(path) > after_header


# -- ONNX ------------------------------------------------------------------------------------


def _onnx_model(weights: np.ndarray | None = None) -> onnx.ModelProto:
    w = numpy_helper.from_array(weights if weights is not None else np.ones((3, 4), dtype=np.float32), "W")
    b = numpy_helper.from_array(np.ones((4,), dtype=np.float16), "B")
    node = helper.make_node("MatMul", ["x", "W"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=[w, b])
    return helper.make_model(graph, producer_name="ocikit-test", producer_version="1.0",
                             opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_header_matches_what_onnx_itself_reads(tmp_path: Path) -> None:
    onnx.save(_onnx_model(), str(tmp_path / "m.onnx"))
    h = read_header(tmp_path / "m.onnx", "onnx")
    loaded = onnx.load(str(tmp_path / "m.onnx"))
    assert h.trusted, h.problems
    assert h.tensor_count == len(loaded.graph.initializer)
    assert h.parameter_count == sum(int(np.prod(t.dims)) for t in loaded.graph.initializer) == 16
    assert h.dtypes == (("FLOAT", 1), ("FLOAT16", 1))
    assert dict(h.extra)["producer"] == "ocikit-test" and dict(h.extra)["opsets"] == "ai.onnx:17"


def test_onnx_with_external_data_counts_from_dims(tmp_path: Path) -> None:
    onnx.save_model(_onnx_model(np.ones((64, 64), dtype=np.float32)), str(tmp_path / "m.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=True, location="m.data",
                    size_threshold=0)
    h = read_header(tmp_path / "m.onnx", "onnx")
    assert h.trusted and h.parameter_count == 64 * 64 + 4, h


def test_a_large_onnx_costs_its_tags_not_its_weights(tmp_path: Path) -> None:
    onnx.save(_onnx_model(np.ones((2048, 2048), dtype=np.float32)), str(tmp_path / "m.onnx"))  # 16 MiB
    path = tmp_path / "m.onnx"
    with path.open("rb", buffering=0) as f:
        counting = _CountingReader(f)
        h = read_onnx(counting, path.stat().st_size)  # type: ignore[arg-type]
    assert h.parameter_count == 2048 * 2048 + 4
    assert counting.bytes_read < 64 * 1024, counting.bytes_read


def test_a_lying_or_broken_onnx_is_reported(tmp_path: Path) -> None:
    model = _onnx_model()
    model.graph.initializer[0].dims[:] = [3, 5]
    onnx.save(model, str(tmp_path / "lie.onnx"))
    h = read_header(tmp_path / "lie.onnx", "onnx")
    assert not h.trusted and h.parameter_count is None and "raw_data is 48" in h.problems[0]
    onnx.save(_onnx_model(), str(tmp_path / "m.onnx"))
    (tmp_path / "cut.onnx").write_bytes((tmp_path / "m.onnx").read_bytes()[:-7])
    assert not read_header(tmp_path / "cut.onnx", "onnx").trusted
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    assert not read_header(tmp_path / "junk.onnx", "onnx").trusted


# -- dispatch and shards ------------------------------------------------------------------------


def test_format_by_extension_and_shards_combined(tmp_path: Path) -> None:
    assert [header_format(p) for p in ("a/b.safetensors", "M.GGUF", "x.onnx", "x.bin", ".gguf")] == [
        "safetensors", "gguf", "onnx", None, None]
    one = read_header(_safetensors(tmp_path / "a.safetensors"), "safetensors")
    both = combine({"a.safetensors": one, "b.safetensors": one})
    assert both is not None and both.parameter_count == 2 * 47 and both.tensor_count == 6
    assert both.dtypes == (("F16", 2), ("F32", 2), ("I64", 2))
    bad = ModelHeader("safetensors", problems=("x",))
    mixed = combine({"a.safetensors": one, "b.safetensors": bad})
    assert mixed is not None and mixed.parameter_count is None and mixed.problems == ("b.safetensors: x",)
    assert combine({}) is None
