"""The one signature check every caller uses (verify, pull/unpack ``--verify-key``, stage policies):
a Sigstore bundle referrer first, as cosign v3 looks first, then the legacy ``.sig`` tag.

A bundle that verifies wins. When none does, the legacy tag is tried; when that fails too the
refusal names the more telling reason of the two (``docs/signing.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._store._storage import Storage
from ocikit._trust._bundle_oci import BundleVerifyResult, verify_bundles
from ocikit._trust._keys import load_public_key
from ocikit._trust._signing import VerifyResult, verify_descriptor
from ocikit.errors import SignatureError

__all__ = ["FORMATS", "verify_signed"]

#: The signature formats ``sign --format`` writes and ``verify`` reports.
FORMATS = ("bundle", "legacy")


def verify_signed(
    storage: Storage,
    ref: Reference,
    desc: Descriptor,
    public_key_path: str | os.PathLike[str],
    *,
    annotations: Mapping[str, str] | None = None,
) -> BundleVerifyResult | VerifyResult:
    """Verify ``desc`` by a bundle referrer, else by the ``.sig`` tag. Raises SignatureError (exit 3)."""
    key = load_public_key(public_key_path)
    verified, examined, reason = verify_bundles(storage, desc.digest, key, annotations=annotations)
    pinned = Reference(ref.registry, ref.repository, ref.tag, desc.digest)
    if verified:
        return BundleVerifyResult(pinned, desc.digest, tuple(verified), storage.name)
    try:
        return verify_descriptor(storage, ref, desc, public_key_path, annotations=annotations)
    except SignatureError as e:
        if not examined:
            raise
        raise SignatureError(
            f"{ref.name}@{desc.digest}: {reason}",
            hint=f"checked {examined} Sigstore bundle(s) and the legacy signature ({e})",
        ) from e
