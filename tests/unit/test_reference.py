from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocikit._io._digest import Digest
from ocikit._oci._reference import Reference, split_tags
from ocikit.errors import InvalidReference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("acme/sentiment:1.0.0", "localhost", "acme/sentiment", "1.0.0", None),
        ("acme/sentiment", "localhost", "acme/sentiment", "latest", None),
        ("sentiment", "localhost", "sentiment", "latest", None),
        ("localhost/acme/x:v1", "localhost", "acme/x", "v1", None),
        ("127.0.0.1:5000/acme/x:v1", "127.0.0.1:5000", "acme/x", "v1", None),
        ("registry.example/acme/x", "registry.example", "acme/x", "latest", None),
        ("localhost:5000/x", "localhost:5000", "x", "latest", None),
        (f"ghcr.io/acme/x@{D}", "ghcr.io", "acme/x", None, D),
        (f"ghcr.io/acme/x:1.0@{D}", "ghcr.io", "acme/x", "1.0", D),
        ("[::1]:5000/a/b:c", "[::1]:5000", "a/b", "c", None),
        ("a/b__c/d-e.f:T_1.x-y", "localhost", "a/b__c/d-e.f", "T_1.x-y", None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Acme/Sentiment",
        "acme/sentiment:",
        "acme/sentiment:-bad",
        "acme/sentiment:.bad",
        "acme//x",
        "/acme",
        "acme/x@sha256:abc",
        "acme/x@sha256:../../etc/passwd",
        f"acme/x@md5:{'a' * 32}",
        "acme x",
        "acme/x:" + "a" * 129,
        "acme/-x",
        "bad_host!/x",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(text)


def test_identifier_prefers_digest_and_display_drops_localhost() -> None:
    ref = Reference.parse(f"acme/x:1@{D}")
    assert ref.identifier == D
    assert ref.display == f"acme/x:1@{D}"
    assert Reference.parse("r.io/a:b").display == "r.io/a:b"
    assert ref.is_local and not Reference.parse("r.io/a").is_local


def test_split_tags() -> None:
    refs = split_tags("127.0.0.1:5000/acme/x:a,b, c")
    assert [r.tag for r in refs] == ["a", "b", "c"]
    assert {r.name for r in refs} == {"127.0.0.1:5000/acme/x"}
    assert [r.tag for r in split_tags("acme/x")] == ["latest"]
    with pytest.raises(InvalidReference):
        split_tags("acme/x:a,b/c")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_parse_only_raises_invalid_reference(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReference:
        return
    assert Reference.parse(str(ref)) == ref
