"""Hostile manifests and blobs (docs/reliability.md §H2, "Hostile manifests and blobs"), against the local store and the registry.

Each hostile input must be refused before use with a clear one-line error, and nothing may be
written outside the store or under a digest it does not have. The counts of inputs tried and
refused are printed at the end (``pytest -s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes.kits import kit_manifest, put_kit
from ocikit._io._digest import Digest
from ocikit._oci._model import INDEX, MANIFEST, MAX_MANIFEST_BYTES, Descriptor, Manifest, parse_manifest_or_index
from ocikit._store._fsck import fsck
from ocikit._store._layout import LocalStore
from ocikit._store._storage import open_verified, read_manifest
from ocikit.errors import OcikitError, VerificationError

TALLY = {"tried": 0, "refused": 0}

LAYER = "application/vnd.kitops.modelkit.model.v1.tar"
GOOD = "sha256:" + "a" * 64


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\nhostile manifests: {TALLY}")


def _refused(fn: Callable[[], object], *errors: type[Exception]) -> OcikitError:
    TALLY["tried"] += 1
    with pytest.raises(errors or (OcikitError,)) as info:
        fn()
    err = info.value
    assert isinstance(err, OcikitError), f"refused with a non-ocikit error: {err!r}"
    assert str(err) and "\n" not in str(err)
    TALLY["refused"] += 1
    return err


def _manifest(config: dict[str, object] | None = None, layers: list[object] | None = None,
              **extra: object) -> bytes:
    body: dict[str, object] = {
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": config or {"mediaType": "application/vnd.kitops.modelkit.config.v1+json", "digest": GOOD,
                             "size": 2},
        "layers": layers if layers is not None else [{"mediaType": LAYER, "digest": GOOD, "size": 1}],
    }
    body.update(extra)
    return json.dumps(body).encode()


DIGEST_AS_PATH = ["sha256:../../../etc/passwd", "sha256:" + "a" * 63, "sha256:" + "A" * 64, "sha256:" + "a" * 128,
                  "md5:d41d8cd98f00b204e9800998ecf8427e", "SHA256:" + "a" * 64, "sha256:abc/def",
                  "sha256:" + "a" * 64 + "/../x", "sha256:" + "a" * 64 + "\n", "/etc/passwd", ""]

HOSTILE_DOCS: dict[str, bytes] = {
    **{f"layer-digest {d!r}": _manifest(layers=[{"mediaType": LAYER, "digest": d, "size": 1}])
       for d in DIGEST_AS_PATH},
    "config-digest-as-path": _manifest(config={"mediaType": "x", "digest": "sha256:../../x", "size": 1}),
    "both-image-and-index": _manifest(manifests=[{"mediaType": MANIFEST, "digest": GOOD, "size": 1}]),
    "index-with-layers": json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [],
                                     "layers": []}).encode(),
    "huge": b'{"schemaVersion":2,"layers":[],"annotations":{"x":"' + b"A" * MAX_MANIFEST_BYTES + b'"}}',
    "negative-size": _manifest(layers=[{"mediaType": LAYER, "digest": GOOD, "size": -1}]),
    "size-as-string": _manifest(layers=[{"mediaType": LAYER, "digest": GOOD, "size": "1"}]),
    "size-2^60": _manifest(layers=[{"mediaType": LAYER, "digest": GOOD, "size": 1 << 60}]),
    "schema-1": json.dumps({"schemaVersion": 1, "layers": []}).encode(),
    "not-json": b"<html>503 Service Unavailable</html>",
    "not-utf8": b'{"schemaVersion":2,"x":"\xff\xfe"}',
    "array": b"[]",
    "layers-not-list": _manifest(layers={"a": 1}),  # type: ignore[arg-type]
    "annotations-not-strings": _manifest(annotations={"a": 1}),
    "data-not-matching-digest": _manifest(layers=[{"mediaType": LAYER, "digest": GOOD, "size": 1, "data": "eA=="}]),
    "wrong-mediatype": _manifest(mediaType="application/vnd.oci.image.index.v1+json"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_DOCS))
def test_hostile_manifest_refused_by_parser_and_local_store(name: str, tmp_path: Path) -> None:
    data = HOSTILE_DOCS[name]
    _refused(lambda: parse_manifest_or_index(data, MANIFEST), VerificationError)
    store = LocalStore(tmp_path / "store")
    repo = store.repository("localhost/hostile")
    _refused(lambda: repo.push_manifest(data, MANIFEST, tag="x"), VerificationError)
    assert repo.tags() == []
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()
    assert fsck(tmp_path).ok  # the store lives at <home>/store


def test_hostile_manifest_on_disk_is_refused_on_read_and_by_gc(home: Path) -> None:
    """Another tool wrote an ambiguous manifest into the layout and indexed it."""
    from ocikit._store._fsck import gc

    store = LocalStore.at_home(home)
    put_kit(store, "localhost/ok", "1", "ok", [b"fine"])
    data = HOSTILE_DOCS["both-image-and-index"]
    digest = store.put_bytes(data)
    store.update_index(lambda es: [*es, Descriptor(MANIFEST, digest, len(data), {
        "dev.ocikit.repository": "localhost/evil", "org.opencontainers.image.ref.name": "localhost/evil:1"})])
    _refused(lambda: read_manifest(store.repository("localhost/evil"), "1"), VerificationError)
    assert not fsck(home).ok
    _refused(lambda: gc(home, grace_seconds=0))
    assert fsck(home, repair=True).ok
    assert store.repository("localhost/evil").tags() == []


@pytest.mark.parametrize("entry_digest", ["sha256:../../../../tmp/evil", "sha256:" + "f" * 63])
def test_index_json_with_digest_as_path_is_refused(home: Path, entry_digest: str) -> None:
    store = LocalStore.at_home(home)
    put_kit(store, "localhost/ok", "1", "ok", [b"fine"])
    raw = json.loads((store.root / "index.json").read_bytes())
    raw["manifests"].append({"mediaType": MANIFEST, "digest": entry_digest, "size": 10})
    (store.root / "index.json").write_text(json.dumps(raw))
    _refused(store.entries)
    assert not fsck(home).ok


@pytest.mark.parametrize("body", [b"wrong bytes", b"right bytes\x00", b"right byte"], ids=["other", "trailing",
                                                                                          "short"])
def test_blob_not_matching_its_digest_is_refused(tmp_path: Path, body: bytes) -> None:
    store = LocalStore(tmp_path / "store")
    desc = Descriptor.for_bytes(LAYER, b"right bytes")
    _refused(lambda: store.repository("localhost/r").push_blob(desc, io.BytesIO(body)))
    assert not store.has_blob(desc.digest)
    # the same bytes planted on disk under the digest are caught on read
    store._ensure()
    store.blob_path(desc.digest).write_bytes(body)
    reader = open_verified(store.repository("localhost/r"), desc)
    _refused(lambda: reader.drain())
    reader.close()


def test_manifest_with_config_of_another_media_type_is_not_a_modelkit() -> None:
    from ocikit._ops._transfer import check_modelkit

    for media_type in (INDEX, "application/vnd.oci.image.config.v1+json", "text/html"):
        m = Manifest(Descriptor(media_type, Digest.parse(GOOD), 2), ())
        _refused(lambda m=m: check_modelkit(m, "registry.example/x:1"))


# -- via the real registry, with the fault proxy replacing what the registry serves ------------------


def _hostile_pulls() -> dict[str, object]:
    def flip(data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1])

    return {
        "blob-bytes-do-not-match": ("blob", flip),
        "blob-trailing-byte": ("blob", lambda d: d + b"\x00"),
        "blob-truncated": ("blob", lambda d: d[:-1]),
        "manifest-both-image-and-index": ("manifest", lambda d: HOSTILE_DOCS["both-image-and-index"]),
        "manifest-huge": ("manifest", lambda d: HOSTILE_DOCS["huge"]),
        "manifest-digest-as-path": ("manifest", lambda d: HOSTILE_DOCS["layer-digest 'sha256:../../../etc/passwd'"]),
        "manifest-config-of-index-type": ("manifest", lambda d: _manifest(
            config={"mediaType": INDEX, "digest": GOOD, "size": 2})),
        "manifest-html-error-page": ("manifest", lambda d: HOSTILE_DOCS["not-json"]),
    }


@pytest.mark.registry
@pytest.mark.parametrize("scenario", sorted(_hostile_pulls()))
def test_hostile_registry_content_refused_on_pull(scenario: str, registry: object, tmp_path: Path) -> None:
    from fakes.fault_proxy import FaultProxy, Rule
    from ocikit._config import RegistryOptions
    from ocikit._ops._transfer import pull, push

    kind, mangle = _hostile_pulls()[scenario]  # type: ignore[misc]
    name = f"hostile/{scenario}"
    src = tmp_path / "src"
    put_kit(LocalStore.at_home(src), f"localhost/{name}", "1", "h", [b"model weights " * 1000])
    push(f"{name}:1", f"{registry.host}/{name}:1", home=src, options=registry.options)  # type: ignore[attr-defined]
    home = tmp_path / "dst"
    path = r"^/v2/.+/blobs/sha256:" if kind == "blob" else r"^/v2/.+/manifests/"
    with FaultProxy(registry.host) as proxy:  # type: ignore[attr-defined]
        proxy.rules.append(Rule("replace-body", "GET", path, times=1000, body=mangle))
        _refused(lambda: pull(f"{proxy.host}/{name}:1", home=home, options=RegistryOptions(plain_http=True)))
        assert proxy.injected >= 1
    store = LocalStore.at_home(home)
    if store.root.exists():
        assert store.entries() == []
        assert fsck(home).ok
        files = [p.name for p in (store.root / "blobs" / "sha256").iterdir()]
        for f in files:  # anything stored is stored under its true digest
            assert Digest.of_bytes((store.root / "blobs" / "sha256" / f).read_bytes()).hex == f


@pytest.mark.registry
def test_lying_docker_content_digest_is_not_trusted(registry: object, tmp_path: Path) -> None:
    from fakes.fault_proxy import FaultProxy, Rule
    from ocikit._config import RegistryOptions
    from ocikit._ops._transfer import push
    from ocikit._registry._client import Registry

    name = "hostile/lying-digest"
    src = tmp_path / "src"
    kit = put_kit(LocalStore.at_home(src), f"localhost/{name}", "1", "h", [b"w" * 100])
    push(f"{name}:1", f"{registry.host}/{name}:1", home=src, options=registry.options)  # type: ignore[attr-defined]
    with FaultProxy(registry.host) as proxy:  # type: ignore[attr-defined]
        proxy.rules.append(Rule("lie-digest", None, r"/manifests/", times=100))
        repo = Registry(proxy.host, RegistryOptions(plain_http=True)).repository(name)
        TALLY["tried"] += 1
        desc = repo.resolve("1")
        assert desc.digest == kit.manifest.digest  # our own hash, not the header
        TALLY["refused"] += 1  # the lie was not used
        assert proxy.injected >= 1


def test_manifest_bytes_round_trip_kit_helper() -> None:
    data, config, layers = kit_manifest("k", [b"x"])
    m = Manifest.from_bytes(data)
    assert m.config == config and list(m.layers) == layers
