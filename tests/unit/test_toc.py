"""A layer's table of contents locates every file's bytes in the blob; a TOC read back is untrusted."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from ocikit._io._digest import Digest
from ocikit._layers._toc import ARTIFACT_TYPE, Toc, TocEntry, build_toc, parse_toc, verify_range
from ocikit._layers._writer import TarEntry, write_tar
from ocikit._oci._gojson import go_json
from ocikit.errors import DigestMismatchError, UnsafeArchiveError, VerificationError

LONG = "data/part-" + "7" * 200 + ".csv"  # a name ustar cannot split: a PAX header precedes it


@pytest.fixture
def layer(tmp_path: Path) -> tuple[bytes, Toc]:
    contents = {"data/a.txt": b"hello\n", "data/empty": b"", LONG: b"x" * 4096,
                "data/big.bin": bytes(range(256)) * 40_000}
    entries = [TarEntry("data", None)]
    for name, body in contents.items():
        p = tmp_path / hashlib.sha256(name.encode()).hexdigest()
        p.write_bytes(body)
        entries.append(TarEntry(name, p, len(body), 0o644))
    buf = io.BytesIO()
    written = write_tar(entries, buf, compression="none")
    blob = buf.getvalue()
    toc = build_toc(io.BytesIO(blob), written.digest, len(blob), written.files)
    return blob, toc


def test_every_offset_points_at_the_file(layer: tuple[bytes, Toc]) -> None:
    blob, toc = layer
    assert [e.path for e in toc.entries] == ["data/a.txt", "data/empty", LONG, "data/big.bin"]
    for e in toc.entries:
        assert e.offset % 512 == 0
        assert verify_range(e, blob[e.offset:e.offset + e.size]) == blob[e.offset:e.offset + e.size]
    assert toc.find("./" + LONG) is not None and toc.find("data/nope") is None


def test_round_trip_through_json(layer: tuple[bytes, Toc]) -> None:
    blob, toc = layer
    data = toc.to_bytes()
    assert json.loads(data)["mediaType"] == ARTIFACT_TYPE
    assert parse_toc(data, toc.layer, len(blob)) == toc
    assert toc.to_bytes() == data  # deterministic
    assert data == go_json({"mediaType": ARTIFACT_TYPE, "layer": str(toc.layer), "size": toc.size, "files": [
        {"path": e.path, "offset": e.offset, "size": e.size, "sha256": e.sha256} for e in toc.entries]})
    odd = Toc(toc.layer, toc.size, (TocEntry('a<b>&"\u2028é', 512, 0, "0" * 64),))
    assert json.loads(odd.to_bytes())["files"][0]["path"] == 'a<b>&"\u2028é'
    assert odd.to_bytes() == go_json({"mediaType": ARTIFACT_TYPE, "layer": str(toc.layer), "size": toc.size,
                                      "files": [{"path": 'a<b>&"\u2028é', "offset": 512, "size": 0,
                                                 "sha256": "0" * 64}]})


def _tamper(toc: Toc, **change: object) -> bytes:
    doc = json.loads(toc.to_bytes())
    doc["files"][0].update(change)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("change", [
    {"offset": 10**12}, {"offset": 0}, {"size": -1}, {"size": 10**9}, {"path": "../etc/passwd"},
    {"path": "/abs"}, {"path": "a\\b"}, {"sha256": "Z" * 64}, {"offset": "512"}, {"size": True},
])
def test_hostile_entries_are_refused(layer: tuple[bytes, Toc], change: dict[str, object]) -> None:
    blob, toc = layer
    with pytest.raises(UnsafeArchiveError):
        parse_toc(_tamper(toc, **change), toc.layer, len(blob))


def test_a_toc_for_another_layer_or_with_duplicates_is_refused(layer: tuple[bytes, Toc]) -> None:
    blob, toc = layer
    other = Digest("sha256", "0" * 64)
    with pytest.raises(UnsafeArchiveError, match="another layer"):
        parse_toc(toc.to_bytes(), other, len(blob))
    doc = json.loads(toc.to_bytes())
    doc["files"].append(doc["files"][0])
    with pytest.raises(UnsafeArchiveError, match="twice"):
        parse_toc(json.dumps(doc).encode(), toc.layer, len(blob))
    with pytest.raises(UnsafeArchiveError, match="duplicate key"):
        parse_toc(b'{"mediaType": "x", "mediaType": "y"}', toc.layer, len(blob))


def test_a_lying_sha256_or_size_fails_verification(layer: tuple[bytes, Toc]) -> None:
    blob, toc = layer
    lying = parse_toc(_tamper(toc, sha256="ab" * 32), toc.layer, len(blob)).entries[0]
    with pytest.raises(DigestMismatchError):
        verify_range(lying, blob[lying.offset:lying.offset + lying.size])
    short = parse_toc(_tamper(toc, size=3), toc.layer, len(blob)).entries[0]
    with pytest.raises(VerificationError):
        verify_range(short, blob[short.offset:short.offset + short.size])
    e = toc.entries[0]
    with pytest.raises(DigestMismatchError):
        verify_range(e, blob[e.offset:e.offset + e.size - 1])
