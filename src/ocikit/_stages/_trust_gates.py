"""The policy's trust requirements beyond a signature (``require: provenance``, ``require: oms``),
as gates of a promotion. Each is checked with the stage's ``signed_by`` keys (``docs/stages.md``).

``provenance``: a SLSA provenance v1 attestation (https://slsa.dev/spec/v1.0/provenance) attached
as a Sigstore bundle referrer and signed by one of the keys. ``oms``: an OpenSSF Model Signing
signature of the ModelKit's files; checking it at promotion needs the OMS referrer of the
ModelKit, which ocikit does not read yet, so the gate fails closed and says so (``docs/signing.md``).
"""

from __future__ import annotations

from pathlib import Path

from ocikit._oci._model import Descriptor
from ocikit._oci._reference import Reference
from ocikit._stages._gates import GateResult, StagePolicy
from ocikit._store._storage import Storage
from ocikit._trust._attest import verify_attestation
from ocikit.errors import SignatureError

__all__ = ["trust_gates"]


def _provenance(storage: Storage, ref: Reference, desc: Descriptor, keys: tuple[Path, ...]) -> GateResult:
    reasons = []
    for key in keys:
        try:
            verify_attestation(storage, ref, desc, key, predicate_type="slsaprovenance1")
        except SignatureError as e:
            reasons.append(str(e))
        else:
            return GateResult("require provenance", "policy", True, None, f"SLSA provenance signed by {key.name}")
    return GateResult("require provenance", "policy", False, None, reasons[-1] if reasons else "no signed_by key")


def trust_gates(storage: Storage, ref: Reference, desc: Descriptor, rules: StagePolicy) -> list[GateResult]:
    """One gate per trust requirement of ``rules``, in the order the policy lists them."""
    out = []
    for requirement in rules.trust:
        if requirement == "provenance":
            out.append(_provenance(storage, ref, desc, rules.signed_by))
        else:
            out.append(GateResult("require oms", "policy", False, None,
                                  "an OMS signature of the files cannot be checked at promotion yet "
                                  "(pending); check the unpacked files with 'ocikit verify-files --signature'"))
    return out
