"""Attestations as Sigstore bundle referrers (``cosign attest`` with the new bundle format): an
in-toto statement with a caller's predicate (SLSA provenance v1, a CycloneDX SBOM, any URI) about a
manifest digest, signed in DSSE and attached like a bundle signature; and checking one.

Predicates: https://slsa.dev/spec/v1.0/provenance (``https://slsa.dev/provenance/v1``) and
https://cyclonedx.org/bom. The statement is ``_intoto``'s, the referrer ``_bundle_oci``'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocikit._io._digest import Digest
from ocikit._io._json import refuse_duplicate_keys
from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._store._storage import Storage
from ocikit._trust._bundle_oci import Clock, VerifiedBundle, sign_bundle, verify_bundles
from ocikit._trust._intoto import COSIGN_SIGN_PREDICATE, predicate_type_uri
from ocikit._trust._keys import load_public_key
from ocikit.errors import SignatureError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

__all__ = [
    "ENV_BUILDER_ID",
    "MAX_PREDICATE",
    "PACK_BUILD_TYPE",
    "AttestationResult",
    "attest_descriptor",
    "load_predicate",
    "pack_provenance",
    "verify_attestation",
]

#: A predicate file (provenance, an SBOM) larger than this is refused before it is parsed.
MAX_PREDICATE = 16 * 1024 * 1024


@dataclass(frozen=True)
class AttestationResult:
    """Attestations of ``digest`` that verified; ``predicate`` of the last one (the newest attached)."""

    reference: Reference
    digest: Digest
    attestations: tuple[VerifiedBundle, ...]
    location: str

    @property
    def predicate_type(self) -> str:
        return self.attestations[-1].statement.predicate_type

    @property
    def predicate(self) -> Any:
        return self.attestations[-1].statement.predicate

    def to_dict(self) -> dict[str, Any]:
        return {"reference": str(self.reference), "digest": str(self.digest), "verified": True, "format": "bundle",
                "location": self.location, "predicateType": self.predicate_type, "predicate": self.predicate,
                "attestations": [a.to_dict() for a in self.attestations]}


def load_predicate(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path`` (bounded, duplicate keys refused). Raises UsageError (exit 2)."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_PREDICATE + 1)
    except OSError as e:
        raise UsageError(f"cannot read predicate file {p}: {e.strerror or e}") from e
    if len(data) > MAX_PREDICATE:
        raise UsageError(f"predicate file {p} is larger than {MAX_PREDICATE} bytes")
    try:
        obj = json.loads(data, object_pairs_hook=refuse_duplicate_keys(ValueError))
    except (ValueError, RecursionError) as e:
        raise UsageError(f"predicate file {p} is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise UsageError(f"predicate file {p} must hold a JSON object")
    return obj


def attest_descriptor(storage: Storage, desc: Descriptor, key: EllipticCurvePrivateKey, predicate: Mapping[str, Any],
                      predicate_type: str, *, clock: Clock | None = None) -> tuple[Descriptor, bool]:
    """Attach ``predicate`` about ``desc`` as a signed attestation; (referrer, whether added)."""
    try:
        uri = predicate_type_uri(predicate_type)
    except ValueError as e:
        raise UsageError(str(e)) from e
    return sign_bundle(storage, desc, key, predicate_type=uri, predicate=predicate, clock=clock)


def verify_attestation(storage: Storage, ref: Reference, desc: Descriptor, public_key_path: str | os.PathLike[str],
                       *, predicate_type: str | None = None) -> AttestationResult:
    """Verify an attestation of ``desc`` by the key (of ``predicate_type``, else any but a plain
    signature). Raises SignatureError (exit 3) saying why none passed."""
    key = load_public_key(public_key_path)
    try:
        uri = predicate_type_uri(predicate_type) if predicate_type is not None else None
    except ValueError as e:
        raise UsageError(str(e)) from e
    verified, examined, reason = verify_bundles(storage, desc.digest, key, predicate_type=uri)
    verified = [v for v in verified if v.statement.predicate_type != COSIGN_SIGN_PREDICATE]
    shown = f"{ref.name}@{desc.digest}"
    if not verified:
        if not reason:
            wanted = f" of type {uri}" if uri else ""
            raise SignatureError(f"{shown} has no attestation{wanted}",
                                 hint="attach one with 'ocikit attest' (or pack --provenance)")
        raise SignatureError(f"{shown}: {reason}", hint=f"checked {examined} Sigstore bundle(s)")
    pinned = Reference(ref.registry, ref.repository, ref.tag, desc.digest)
    return AttestationResult(pinned, desc.digest, tuple(verified), storage.name)


#: The ``buildType`` of ``pack --provenance`` (SLSA v1 ``buildDefinition.buildType`` is a TypeURI).
PACK_BUILD_TYPE = "urn:ocikit:pack:v1"
#: Who ran the build; CI sets it to its own builder id (e.g. the workflow's URL).
ENV_BUILDER_ID = "OCIKIT_BUILDER_ID"


def pack_provenance(context_dir: Path, config: Descriptor, tags: list[str], *, builder_id: str | None = None,
                    ocikit_version: str) -> dict[str, Any]:
    """SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance) of a pack: the git commit of the
    context (when it is a git checkout), the Kitfile config's digest, ocikit's version, the builder."""
    from ocikit._trust._provenance import git_provenance

    dependencies: list[dict[str, Any]] = [
        {"name": "Kitfile", "digest": {config.digest.algorithm: config.digest.hex}, "mediaType": config.media_type},
    ]
    git = git_provenance(context_dir)
    if "commit" in git:
        entry: dict[str, Any] = {"uri": "git+file:.", "digest": {"gitCommit": git["commit"]}}
        if "dirty" in git:
            entry["annotations"] = {"dirty": git["dirty"] == "true"}
        dependencies.insert(0, entry)
    return {
        "buildDefinition": {
            "buildType": PACK_BUILD_TYPE,
            "externalParameters": {"tags": list(tags)},
            "internalParameters": {"ocikitVersion": ocikit_version},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": builder_id or os.environ.get(ENV_BUILDER_ID) or "urn:ocikit:local",
                        "version": {"ocikit": ocikit_version}},
        },
    }
