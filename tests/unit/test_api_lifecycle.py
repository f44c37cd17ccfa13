"""The local lifecycle through the public API only: init, pack, list, inspect, tag, unpack, remove, fsck, gc."""

from __future__ import annotations

from pathlib import Path

import pytest

import ocikit


def test_lifecycle_through_public_names(home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "weights.safetensors").write_bytes(b"\x00" * 4096)
    (project / "data.csv").write_text("x,y\n1,2\n")
    kitfile_path = ocikit.init(project, name="lifecycle", author="ml team")
    assert ocikit.Kitfile.load(kitfile_path).package.name == "lifecycle"

    packed = ocikit.pack(project, tag="acme/lifecycle:1.0", home=home)
    assert isinstance(packed, ocikit.PackResult) and packed.sbom_digest is not None

    (info,) = ocikit.list_modelkits(home=home)
    assert isinstance(info, ocikit.ModelKitInfo)
    assert (info.repository, info.tags, info.digest, info.name) == ("acme/lifecycle", ("1.0",), packed.digest, "lifecycle")

    inspected = ocikit.inspect("acme/lifecycle:1.0", home=home)
    assert isinstance(inspected, ocikit.InspectResult) and inspected.digest == packed.digest
    assert inspected.kitfile.package.authors == ("ml team",)

    ocikit.tag("acme/lifecycle:1.0", "acme/lifecycle:candidate", home=home)
    assert ocikit.list_modelkits(home=home)[0].tags == ("1.0", "candidate")

    out = ocikit.unpack("acme/lifecycle:candidate", tmp_path / "out", home=home)
    assert isinstance(out, ocikit.UnpackResult)
    assert (tmp_path / "out" / "model" / "weights.safetensors").read_bytes() == b"\x00" * 4096

    events = ocikit.remove("acme/lifecycle:candidate", home=home)
    assert [e.action for e in events] == ["untagged"] and isinstance(events[0], ocikit.RemoveEvent)
    events = ocikit.remove("acme/lifecycle:1.0", home=home)
    assert [e.action for e in events] == ["removed"]
    assert ocikit.list_modelkits(home=home) == []

    report = ocikit.fsck(home=home)
    assert isinstance(report, ocikit.FsckReport) and report.ok
    collected = ocikit.gc(home=home, grace_seconds=0)
    assert isinstance(collected, ocikit.GcReport)
    assert packed.digest in collected.removed and collected.reachable == 0  # manifest, config, layers, SBOM
    assert collected.bytes_freed >= 4096
    assert ocikit.fsck(home=home).ok


def test_public_errors_are_the_documented_tree(home: Path) -> None:
    with pytest.raises(ocikit.errors.NotFoundError) as err:
        ocikit.inspect("acme/missing:1.0", home=home)
    assert err.value.exit_code == 6 and err.value.hint


def test_unpack_result_lists_what_it_wrote_and_kept(home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "model" / "sub").mkdir(parents=True)
    (project / "model" / "w.bin").write_bytes(b"w" * 100)
    (project / "model" / "sub" / "x.bin").write_bytes(b"x")
    (project / "notes.md").write_text("# notes\n")
    (project / "Kitfile").write_text(
        "manifestVersion: 1.0.0\npackage:\n  name: written\nmodel:\n  path: model\ndocs:\n  - path: notes.md\n"
    )
    ocikit.pack(project, tag="acme/written:1", home=home)
    target = tmp_path / "out"
    first = ocikit.unpack("acme/written:1", target, home=home)
    everything = ["Kitfile", "SBOM.json", "model/sub/x.bin", "model/w.bin", "notes.md"]
    assert sorted(first.written) == everything
    assert first.kept == () and first.kitfile_written and first.sbom_written

    again = ocikit.unpack("acme/written:1", target, home=home, ignore_existing=True)
    assert again.written == ()
    assert sorted(again.kept) == everything
