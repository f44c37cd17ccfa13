"""in-toto statements: the one cosign v3 signs for a manifest digest, attestations' statements, and
a strict parser for statements read back from a bundle.

Spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md. cosign v3 ``sign``
(``cmd/cosign/cli/sign/sign.go`` ``signDigestBundle``) signs a Statement v1 whose one subject has
``digest = {"sha256": <hex of the manifest digest>}`` and the ``-a`` annotations, predicate type
``https://sigstore.dev/cosign/sign/v1`` (``pkg/types/predicate.go``) and an empty predicate,
marshalled by ``protojson`` (field order of the .proto: ``_type, subject, predicateType, predicate``;
a subject is ``digest`` then ``annotations``, and cosign always sets ``annotations``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocikit._io._digest import Digest
from ocikit._io._json import refuse_duplicate_keys
from ocikit._oci._gojson import go_json

__all__ = [
    "COSIGN_SIGN_PREDICATE",
    "PREDICATE_ALIASES",
    "STATEMENT_V1",
    "Statement",
    "parse_statement",
    "predicate_type_uri",
    "statement_bytes",
]

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_STATEMENT_TYPES = (STATEMENT_V1, "https://in-toto.io/Statement/v0.1")
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
#: ``cosign attest --type`` short names (``pkg/cosign/attestation/attestation.go``) we accept.
PREDICATE_ALIASES = {
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "cyclonedx": "https://cyclonedx.org/bom",
    "spdxjson": "https://spdx.dev/Document",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}
_MAX_SUBJECTS = 1024


@dataclass(frozen=True)
class Statement:
    """A parsed statement: its subjects' digests (``{"sha256": hex}``) and annotations, its predicate."""

    type: str
    subjects: tuple[Mapping[str, str], ...]
    predicate_type: str
    predicate: Any
    annotations: tuple[Mapping[str, Any], ...] = field(default=())

    def names(self, digest: Digest) -> bool:
        """Whether a subject names ``digest``."""
        return any(s.get(digest.algorithm) == digest.hex for s in self.subjects)

    def annotations_of(self, digest: Digest) -> Mapping[str, Any]:
        for s, a in zip(self.subjects, self.annotations, strict=True):
            if s.get(digest.algorithm) == digest.hex:
                return a
        return {}


def predicate_type_uri(name: str) -> str:
    """``slsaprovenance1`` → its URI; a URI is kept; anything else is a ValueError."""
    if name in PREDICATE_ALIASES:
        return PREDICATE_ALIASES[name]
    if name.startswith(("https://", "http://")) and " " not in name:
        return name
    raise ValueError(f"unknown predicate type {name!r} (use {', '.join(PREDICATE_ALIASES)} or a URI)")


def statement_bytes(
    digest: Digest,
    predicate_type: str,
    predicate: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """The statement about ``digest``, compact, in protojson's field order (bytes are deterministic)."""
    subject: dict[str, Any] = {"digest": {digest.algorithm: digest.hex}}
    given = annotations or {}
    subject["annotations"] = {k: given[k] for k in sorted(given)}
    return go_json({
        "_type": STATEMENT_V1,
        "subject": [subject],
        "predicateType": predicate_type,
        "predicate": dict(predicate or {}),
    })


def _subject(obj: Any, i: int) -> tuple[dict[str, str], dict[str, Any]]:
    if not isinstance(obj, dict):
        raise ValueError(f"subject {i} is not an object")
    digests = obj.get("digest")
    if not isinstance(digests, dict) or not digests or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in digests.items()):
        raise ValueError(f"subject {i} has no digest map of strings")
    annotations = obj.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ValueError(f"subject {i} annotations must be an object")
    return dict(digests), dict(annotations)


def parse_statement(data: bytes) -> Statement:
    """Parse an in-toto statement strictly (duplicate keys refused). Raises ValueError."""
    obj = json.loads(data, object_pairs_hook=refuse_duplicate_keys(ValueError))
    if not isinstance(obj, dict):
        raise ValueError("the statement is not a JSON object")
    kind = obj.get("_type")
    if kind not in _STATEMENT_TYPES:
        raise ValueError(f"_type is {kind!r}, not an in-toto statement")
    subjects = obj.get("subject")
    if not isinstance(subjects, list) or not subjects or len(subjects) > _MAX_SUBJECTS:
        raise ValueError(f"subject must be a list of 1 to {_MAX_SUBJECTS} descriptors")
    predicate_type = obj.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise ValueError("predicateType must be a non-empty string")
    parsed = [_subject(s, i) for i, s in enumerate(subjects)]
    return Statement(str(kind), tuple(d for d, _ in parsed), predicate_type, obj.get("predicate"),
                     tuple(a for _, a in parsed))
