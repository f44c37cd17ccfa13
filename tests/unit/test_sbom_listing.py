"""The SBOM's file list is written component by component; it must equal ``json.dumps``'s output."""

from __future__ import annotations

import json

import pytest

from ocikit._layers._types import FileRecord
from ocikit._trust._sbom_files import FileListing, file_json, file_text


@pytest.mark.parametrize("kind", [None, ("pytorch", "content"), ("pickle", "extension")])
@pytest.mark.parametrize("path", ["data/a.txt", 'we"ird\\name ü €/x.pkl', "d/\u2028line\tsep"])
@pytest.mark.parametrize("indent", ["", "        "])
def test_file_text_is_json_dumps_reindented(kind: tuple[str, str] | None, path: str, indent: str) -> None:
    rec = FileRecord(path, 1234, "ab" * 32, 0o644)
    expected = json.dumps(file_json(f"dataset-0:{path}", rec, kind), indent=2, ensure_ascii=False)
    assert file_text(f"dataset-0:{path}", rec, kind, indent) == expected.replace("\n", "\n" + indent)


def test_a_bad_record_beyond_the_sample_is_reported() -> None:
    listing = FileListing()
    for i in range(20):
        listing.add(f"r{i}", FileRecord(f"f{i}", 1, "0" * 64, 0o644), None)
    assert listing.error is None
    assert len(listing.sample) == 8  # one shape: only the first few are kept as the sample
    listing.add("r20", FileRecord("f20", 1, "not-hex", 0o644), None)
    assert listing.error is not None and "f20" in listing.error
