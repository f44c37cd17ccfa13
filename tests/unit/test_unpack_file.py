"""``fetch_files``: one file out of a huge layer by its table of contents, checked; else the whole layer."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from ocikit._io._digest import Digest
from ocikit._layers._toc import ARTIFACT_TYPE
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, Descriptor, Manifest
from ocikit._ops._pack import pack
from ocikit._ops._unpack_file import ANNOTATION_TOC_LAYER, TOC_MIN_LAYER, fetch_files, load_tocs
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import list_referrers, push_referrer
from ocikit.errors import DigestMismatchError, NotFoundError, UnsafeArchiveError

WANTED = "data/reviews/part-0007.csv"


def _project(root: Path, big: int) -> bytes:
    (root / "data/reviews").mkdir(parents=True)
    rnd = os.urandom(4096)
    for i in range(16):
        (root / f"data/reviews/part-{i:04d}.csv").write_bytes(rnd if i == 7 else os.urandom(4096))
    (root / "data/huge.bin").write_bytes(os.urandom(big))
    (root / "Kitfile").write_text("manifestVersion: 1.0.0\npackage:\n  name: t\ndatasets:\n"
                                  "  - name: reviews\n    path: data\n")
    return rnd


class Counting:
    """The local store's repository, counting the bytes read from every blob."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_blob(self, desc: Descriptor, offset: int = 0) -> BinaryIO:
        f = self._inner.open_blob(desc, offset)
        outer = self

        class _R(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def read(self, n: int = -1) -> bytes:
                data = f.read(n)
                outer.read += len(data)
                return bytes(data)

            def close(self) -> None:
                f.close()
                super().close()

        return _R()  # type: ignore[return-value]


@pytest.fixture
def packed(tmp_path: Path, home: Path) -> tuple[Any, Descriptor, Manifest, bytes]:
    want = _project(tmp_path / "p", TOC_MIN_LAYER + (1 << 20))
    result = pack(tmp_path / "p", tag="localhost/toc:1", home=home, sbom=False)
    repo = LocalStore.at_home(home).repository("localhost/toc")
    return repo, result.descriptor, result.manifest, want


def test_one_file_is_read_by_range(packed: tuple[Any, Descriptor, Manifest, bytes], tmp_path: Path) -> None:
    repo, desc, manifest, want = packed
    assert [d.artifact_type for d in list_referrers(repo, desc.digest)] == [ARTIFACT_TYPE]
    counting = Counting(repo)
    got = fetch_files(counting, desc, manifest, [WANTED], tmp_path / "out")
    assert (tmp_path / "out" / WANTED).read_bytes() == want
    assert got[0].ranged and got[0].size == 4096
    assert counting.read <= 1 << 20  # the TOC and the file, not the 17 MiB layer
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["data", "part-0007.csv", "reviews"]


def test_small_layers_get_no_toc_and_fall_back(tmp_path: Path, home: Path, caplog: pytest.LogCaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger("ocikit"), "propagate", True)  # a CLI test may have turned it off
    want = _project(tmp_path / "p", 1000)
    result = pack(tmp_path / "p", tag="localhost/small:1", home=home, sbom=False, compression="gzip")
    repo = LocalStore.at_home(home).repository("localhost/small")
    assert list_referrers(repo, result.digest) == []
    with caplog.at_level(logging.INFO, logger="ocikit._ops._unpack_file"):
        got = fetch_files(repo, result.descriptor, result.manifest, [WANTED], tmp_path / "out")
    assert (tmp_path / "out" / WANTED).read_bytes() == want and not got[0].ranged
    assert "no table of contents" in caplog.text
    with pytest.raises(NotFoundError):
        fetch_files(repo, result.descriptor, result.manifest, ["data/nope"], tmp_path / "out")


def _lie(repo: Any, desc: Descriptor, manifest: Manifest, **change: object) -> None:
    """Attach a newer TOC whose entry for WANTED says what ``change`` says."""
    layer = manifest.layers[0]
    toc = load_tocs(repo, desc.digest, manifest)[layer.digest]
    doc = json.loads(toc.to_bytes())
    for f in doc["files"]:
        if f["path"] == WANTED:
            f.update(change)
    data = json.dumps(doc).encode()
    blob = Descriptor.for_bytes(ARTIFACT_TYPE, data, annotations={ANNOTATION_TOC_LAYER: str(layer.digest)})
    repo.push_blob(Descriptor(blob.media_type, blob.digest, blob.size), io.BytesIO(data))
    config = Descriptor(EMPTY_CONFIG, Digest.of_bytes(EMPTY_JSON), len(EMPTY_JSON), data=EMPTY_JSON)
    push_referrer(repo, Manifest(config=config, layers=(blob,), artifact_type=ARTIFACT_TYPE,
                                 subject=Descriptor(desc.media_type, desc.digest, desc.size)))


@pytest.mark.parametrize("change,error", [
    ({"sha256": "ab" * 32}, DigestMismatchError),
    ({"offset": 10**12}, UnsafeArchiveError),
    ({"size": 10**9}, UnsafeArchiveError),
    ({"size": 4000}, DigestMismatchError),
    ({"offset": 512}, DigestMismatchError),
    ({"path": "../../etc/x"}, UnsafeArchiveError),
])
def test_a_lying_toc_writes_nothing(packed: tuple[Any, Descriptor, Manifest, bytes], tmp_path: Path,
                                    change: dict[str, object], error: type[Exception]) -> None:
    repo, desc, manifest, _ = packed
    _lie(repo, desc, manifest, **change)
    out = tmp_path / "out"
    with pytest.raises(error):
        fetch_files(repo, desc, manifest, [WANTED], out)
    assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == []
