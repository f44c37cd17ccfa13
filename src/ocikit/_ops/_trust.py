"""Trust on references: ``sign``, ``verify`` and ``sbom`` resolve a reference where ``_repos.locate``
says (the registry it names; the local store for local references or offline) and run the
storage-level functions of ``_trust`` on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ocikit._config import RegistryOptions
from ocikit._oci._reference import Reference
from ocikit._ops._repos import locate
from ocikit._store._referrers import signature_tag
from ocikit._store._storage import Storage
from ocikit._trust._attest import AttestationResult, attest_descriptor, load_predicate
from ocikit._trust._attest import verify_attestation as _verify_attestation
from ocikit._trust._bundle_oci import BundleSignResult, BundleVerifyResult, Clock, sign_bundle
from ocikit._trust._keys import load_private_key, load_public_key
from ocikit._trust._sbom_store import find_sbom
from ocikit._trust._signing import SignResult, VerifyResult, sign_manifest
from ocikit._trust._trust_check import FORMATS, verify_signed
from ocikit.errors import NotFoundError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    from ocikit._oci._model import Descriptor

__all__ = ["attest", "sbom", "sign", "verify", "verify_attestation"]


def _as_reference(reference: str | Reference) -> Reference:
    return reference if isinstance(reference, Reference) else Reference.parse(reference)


def _is_local(storage: Storage) -> bool:
    from ocikit._store._layout_repository import LayoutRepository

    return isinstance(storage, LayoutRepository)


def after_sign(storage: Storage, ref: Reference, desc: Descriptor, key: EllipticCurvePrivateKey) -> None:
    """Called once a manifest is signed (either format): where further signatures of the same
    ModelKit (the OMS bundle of its files) are attached. Does nothing by itself."""


def sign(
    reference: str | Reference,
    key: str | os.PathLike[str],
    *,
    password: str | bytes | None = None,
    annotations: Mapping[str, str] | None = None,
    format: str = "bundle",
    clock: Clock | None = None,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> SignResult | BundleSignResult:
    """Sign the manifest ``reference`` resolves to, where ``_repos.locate`` says (the registry it
    names, the local store for local references or offline). ``format="bundle"`` (the default)
    attaches a Sigstore bundle as an OCI 1.1 referrer, as cosign v3 does; ``"legacy"`` writes
    cosign v2's ``sha256-<hex>.sig`` tag. ``clock`` stamps the referrer's creation time."""
    if format not in FORMATS:
        raise UsageError(f"unknown signature format {format!r}", hint="use bundle or legacy")
    ref = _as_reference(reference)
    private = load_private_key(key, password)  # a bad key/password fails before any network traffic
    storage = locate(ref, home=home, options=options)
    desc = storage.resolve(ref.identifier)
    pinned = Reference(ref.registry, ref.repository, ref.tag, desc.digest)
    result: SignResult | BundleSignResult
    if format == "bundle":
        referrer, added = sign_bundle(storage, desc, private, annotations=annotations, clock=clock)
        result = BundleSignResult(pinned, desc.digest, referrer, added, storage.name, _is_local(storage))
    else:
        sig_desc, added = sign_manifest(storage, ref, desc, private, annotations=annotations)
        result = SignResult(pinned, desc.digest, signature_tag(desc.digest), sig_desc, added, storage.name,
                            _is_local(storage))
    after_sign(storage, ref, desc, private)
    return result


def verify(
    reference: str | Reference,
    key: str | os.PathLike[str],
    *,
    annotations: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> VerifyResult | BundleVerifyResult:
    """Resolve ``reference`` once and verify its signature (a Sigstore bundle referrer first, then
    the legacy ``.sig`` tag; ``result.format`` says which); use ``result.digest`` afterwards."""
    ref = _as_reference(reference)
    load_public_key(key)
    storage = locate(ref, home=home, options=options)
    desc = storage.resolve(ref.identifier)
    return verify_signed(storage, ref, desc, key, annotations=annotations)


def attest(
    reference: str | Reference,
    key: str | os.PathLike[str],
    predicate: str | os.PathLike[str],
    *,
    type: str,  # cosign attest's option name
    password: str | bytes | None = None,
    clock: Clock | None = None,
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> BundleSignResult:
    """Attach the JSON predicate file ``predicate`` (``type``: slsaprovenance1, cyclonedx or a URI)
    about the manifest ``reference`` resolves to, as a signed in-toto attestation (a bundle referrer)."""
    body = load_predicate(predicate)
    ref = _as_reference(reference)
    private = load_private_key(key, password)
    storage = locate(ref, home=home, options=options)
    desc = storage.resolve(ref.identifier)
    referrer, added = attest_descriptor(storage, desc, private, body, type, clock=clock)
    pinned = Reference(ref.registry, ref.repository, ref.tag, desc.digest)
    return BundleSignResult(pinned, desc.digest, referrer, added, storage.name, _is_local(storage))


def verify_attestation(
    reference: str | Reference,
    key: str | os.PathLike[str],
    *,
    type: str | None = None,  # cosign verify-attestation's option name
    home: str | os.PathLike[str] | None = None,
    options: RegistryOptions | None = None,
) -> AttestationResult:
    """Resolve ``reference`` once and verify an attestation of it by ``key`` (of ``type`` if given)."""
    ref = _as_reference(reference)
    load_public_key(key)
    storage = locate(ref, home=home, options=options)
    desc = storage.resolve(ref.identifier)
    return _verify_attestation(storage, ref, desc, key, predicate_type=type)


def sbom(reference: str, *, home: str | os.PathLike[str] | None = None,
         options: RegistryOptions | None = None, select: Sequence[str] = ()) -> bytes:
    """The SBOM of the ModelKit at ``reference`` (local store if present there, else the registry).

    Reads the manifest, the referrers listing and the SBOM blob only: no layer is fetched. For a
    ModelKit index, ``select`` (``KEY=VALUE`` labels) chooses the variant whose SBOM is meant, as
    ``pull``/``unpack --select`` do (an index of one variant needs none); each variant carries its
    own SBOM, so an index has none of its own.
    """
    from ocikit._ops._index import chosen

    ref = Reference.parse(reference)
    storage = locate(ref, home=home, options=options)
    ref = chosen(storage, ref, select)
    desc = storage.resolve(ref.identifier)
    data = find_sbom(storage, desc.digest)
    if data is None:
        raise NotFoundError(
            f"{ref.display} ({desc.digest.short}) has no SBOM attached",
            hint="pack it with ocikit (SBOMs are attached by default), then push it with its referrers",
        )
    return data
