"""Property-based fuzzing (hypothesis, bounded): parsers raise only their own error, never crash.

* ``Kitfile.loads`` raises only KitfileError;
* ``Reference.parse`` raises only InvalidReference, and what it accepts round-trips;
* ``_oci`` manifest/index parsing raises only VerificationError;
* the tar reader/extractor of ``_layers`` raises only UnsafeArchiveError / DigestMismatchError /
  VerificationError and never writes outside its target directory.

Bounded: ``max_examples`` per property (``FUZZ_EXAMPLES``, default 200), no deadline; the whole
file runs in well under 30 s on 2 cores.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocikit._oci._model import INDEX, MANIFEST, Index, Manifest, parse_manifest_or_index
from ocikit._oci._reference import Reference
from ocikit.errors import InvalidReference, KitfileError, VerificationError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(
    max_size=20)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(
    st.text(max_size=12), c, max_size=5), max_leaves=25)
DIGESTS = st.sampled_from(["sha256:" + "a" * 64, "sha256:../../x", "sha256:" + "A" * 64, "", "md5:00"]) | st.text(
    max_size=80)
descriptor = st.fixed_dictionaries({}, optional={
    "mediaType": st.sampled_from([MANIFEST, INDEX, "application/x", ""]) | st.text(max_size=10),
    "digest": DIGESTS, "size": st.integers(-5, 2**62) | st.text(max_size=3), "annotations": json_values,
    "data": st.text(max_size=12), "artifactType": json_scalars, "platform": json_values})
manifest_like = st.fixed_dictionaries({}, optional={
    "schemaVersion": st.sampled_from([2, 1, "2", None]), "mediaType": st.sampled_from([MANIFEST, INDEX, "x"]),
    "config": descriptor | json_values, "layers": st.lists(descriptor, max_size=3) | json_values,
    "manifests": st.lists(descriptor, max_size=3) | json_values, "subject": descriptor | json_values,
    "annotations": json_values, "artifactType": json_scalars})


# -- Kitfile -----------------------------------------------------------------------------------


def _kitfile_loads(text: str | bytes) -> None:
    from ocikit._kitfile._model import Kitfile

    try:
        Kitfile.loads(text, source="fuzz/Kitfile")
    except KitfileError as e:
        assert str(e)


kitfile_like = st.fixed_dictionaries({}, optional={
    "manifestVersion": st.sampled_from(["1.0.0", "1.0", 1.0, None]) | json_scalars,
    "package": st.fixed_dictionaries({}, optional={"name": json_scalars, "version": json_scalars,
                                                   "authors": json_values}) | json_values,
    "model": st.fixed_dictionaries({}, optional={"name": json_scalars, "path": json_scalars,
                                                 "parts": json_values, "parameters": json_values}) | json_values,
    "datasets": st.lists(st.fixed_dictionaries({}, optional={"name": json_scalars, "path": st.sampled_from(
        ["../x", "/abs", "C:\\x", "a#/../../x", "file:///etc", "data", ""]) | json_scalars}), max_size=3)
    | json_values,
    "code": json_values, "docs": json_values})


@FUZZ
@given(st.text(max_size=400) | st.binary(max_size=400))
def test_kitfile_loads_raw_text_raises_only_kitfile_error(text: str | bytes) -> None:
    _kitfile_loads(text)


@FUZZ
@given(kitfile_like)
def test_kitfile_loads_structured_raises_only_kitfile_error(doc: dict[str, object]) -> None:
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    _kitfile_loads(text)


# -- references --------------------------------------------------------------------------------

component = st.from_regex(r"\A[a-z0-9]{1,6}([._-][a-z0-9]{1,4}){0,2}\Z")
ref_like = st.builds(
    lambda reg, parts, tag, dig: (f"{reg}/" if reg else "") + "/".join(parts) + (f":{tag}" if tag else "")
    + (f"@{dig}" if dig else ""),
    st.none() | st.sampled_from(["localhost", "reg.example:5000", "127.0.0.1:5000", "[::1]:5000", "Reg.Ex"]),
    st.lists(component, min_size=1, max_size=3),
    st.none() | st.from_regex(r"\A[\w][\w.-]{0,20}\Z"),
    st.none() | DIGESTS)


@FUZZ
@given(st.text(max_size=300) | ref_like)
def test_reference_parse_raises_only_invalid_reference_and_round_trips(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReference as e:
        assert str(e)
        return
    assert Reference.parse(str(ref)) == ref
    assert str(Reference.parse(str(ref))) == str(ref)


# -- OCI manifests and indexes -----------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300) | manifest_like.map(lambda d: json.dumps(d).encode()),
       st.sampled_from([MANIFEST, INDEX, None, "application/x"]))
def test_oci_parsing_raises_only_verification_error(data: bytes, media_type: str | None) -> None:
    for parse in (lambda: Manifest.from_bytes(data), lambda: Index.from_bytes(data),
                  lambda: parse_manifest_or_index(data, media_type)):
        try:
            value = parse()
        except VerificationError as e:
            assert str(e)
        else:
            # what parses serialises, and re-parses to the same value
            again = type(value).from_bytes(value.to_bytes())
            assert again.to_bytes() == value.to_bytes()


# -- tar reader / extractor --------------------------------------------------------------------

names = st.sampled_from(["a", "dir/b.txt", "../evil", "/abs", "a/../../x", "..\\win", "C:x", "", ".", "./",
                         "d/", "x" * 200, "ü.bin", "a//b", "dup", "dup"]) | st.text(max_size=30)


def _tar(members: list[tuple[str, bytes, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, body in members:
            info = tarfile.TarInfo(name or "empty")
            info.name = name
            info.type = kind
            info.mode = 0o644
            if kind == tarfile.SYMTYPE or kind == tarfile.LNKTYPE:
                info.linkname = "../../outside"
            if kind == tarfile.REGTYPE:
                info.size = len(body)
                tf.addfile(info, io.BytesIO(body))
            else:
                tf.addfile(info)
    return buf.getvalue()


tar_members = st.lists(st.tuples(names, st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE,
                                                          tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]),
                                 st.binary(max_size=64)), max_size=5)


def _has_layers_reader() -> bool:
    try:
        from ocikit._layers._extract import ExtractState, extract_layer  # noqa: F401
        from ocikit._layers._reader import TarReader  # noqa: F401
        from ocikit._layers._types import Limits  # noqa: F401
    except ImportError:
        return False
    return True


def _extract(data: bytes) -> None:
    from ocikit._layers._extract import ExtractState, extract_layer
    from ocikit._layers._reader import TarReader
    from ocikit._layers._types import Limits

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = root / "target"
        target.mkdir()
        (root / "sentinel").mkdir()
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        try:
            reader = TarReader(io.BytesIO(data), "fuzz layer", Limits())
            try:
                extract_layer(reader, fd, ExtractState(), what="fuzz layer")
            except VerificationError as e:  # UnsafeArchiveError and DigestMismatchError are subclasses
                assert str(e)
        finally:
            os.close(fd)
        # nothing escaped: the only entries beside the target are ours
        assert sorted(p.name for p in root.iterdir()) == ["sentinel", "target"]
        assert list((root / "sentinel").iterdir()) == []
        for p in target.rglob("*"):
            assert not p.is_symlink()
            assert p.resolve().is_relative_to(target.resolve())


@FUZZ
@given(tar_members, st.data())
def test_tar_extractor_raises_only_verification_errors_and_never_escapes(
        members: list[tuple[str, bytes, bytes]], data: st.DataObject) -> None:
    if not _has_layers_reader():
        return
    try:
        raw = _tar(members)
    except (ValueError, UnicodeError, tarfile.TarError):
        return
    if raw and data.draw(st.booleans()):  # flip a few bytes: headers, sizes, checksums, PAX records
        buf = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 4))):
            buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(buf)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    _extract(raw)
