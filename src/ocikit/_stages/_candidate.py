"""The ModelKit a transition puts in a stage, and its gates: load it, evaluate the expressions and the
policy's ``from`` and ``signed_by`` rules on it, refuse it if one fails.

The expression language and the policy file are :mod:`ocikit._stages._gates`; this module applies
them to a candidate in a :class:`~ocikit._store._storage.Storage`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocikit._io._digest import Digest
from ocikit._oci._model import INDEX, KITOPS_CONFIG, MANIFEST, MODELPACK_CONFIG, Descriptor, Manifest
from ocikit._stages._chain import occupied, read_head, walk
from ocikit._stages._event import HEAD_PREFIX, check_stage_name, event_reference, is_stage_name
from ocikit._stages._gates import Expression, GateResult, Policy, StagePolicy, evaluate, load_policy
from ocikit._store._storage import Storage, read_blob
from ocikit.errors import GateError, NotAModelKitError, SignatureError

__all__ = [
    "Candidate",
    "evaluate_gates",
    "load_candidate",
    "refuse_if_failed",
    "resolve_policy",
    "signature_gates",
]


@dataclass(frozen=True)
class Candidate:
    """A ModelKit about to enter a stage: its manifest descriptor (the event's subject), its config
    (what expressions read) and the version to record."""

    desc: Descriptor
    config: Any
    version: str | None


def load_candidate(storage: Storage, identifier: str, *, tag: str | None) -> Candidate:
    """The ModelKit ``identifier`` (tag or digest) names. NotAModelKitError for anything else.

    The version is the config's ``package.version``, else ``tag`` when it looks like a version
    (not a stage, not a head tag)."""
    desc = storage.resolve(identifier)
    if desc.media_type == INDEX:  # a ModelKit index moves as one (docs/model-index.md)
        from ocikit._modelkit._index import ModelKitIndex

        ModelKitIndex.from_bytes(storage.fetch_manifest(desc), f"index {desc.digest}")
        version = tag if tag and not (tag.startswith(HEAD_PREFIX) or is_stage_name(tag)) else None
        return Candidate(Descriptor(desc.media_type, desc.digest, desc.size), {}, version)
    if desc.media_type != MANIFEST:
        raise NotAModelKitError(f"{storage.name}@{desc.digest} is a {desc.media_type}, not a ModelKit manifest")
    manifest = Manifest.from_bytes(storage.fetch_manifest(desc), f"manifest {desc.digest}")
    if manifest.config.media_type not in (KITOPS_CONFIG, MODELPACK_CONFIG):
        raise NotAModelKitError(
            f"{storage.name}@{desc.digest} has config type {manifest.config.media_type}, not a ModelKit config"
        )
    data = read_blob(storage, manifest.config, what=f"config of {desc.digest}")
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise NotAModelKitError(f"config of {storage.name}@{desc.digest} is not valid JSON") from e
    version = None
    package = config.get("package") if isinstance(config, dict) else None
    if isinstance(package, dict) and isinstance(package.get("version"), str) and package["version"]:
        version = package["version"][:256]
    elif tag and not (tag.startswith(HEAD_PREFIX) or is_stage_name(tag)):
        version = tag  # a version-looking tag such as 1.4.0
    subject = Descriptor(desc.media_type, desc.digest, desc.size)
    return Candidate(subject, config, version)


def resolve_policy(policy: Policy | str | os.PathLike[str] | None) -> Policy | None:
    """``policy`` loaded when it is a path (stage names checked as stage names)."""
    if policy is None or isinstance(policy, Policy):
        return policy
    return load_policy(policy, stage_name_check=check_stage_name)


def _held(storage: Storage, stage: str, digest: Digest) -> str | None:
    """How ``digest`` holds or held ``stage`` (for ``from`` rules), or None."""
    if occupied(storage, stage) == digest:
        return f"holds {stage}"
    head = read_head(storage, stage)
    if head is None:
        return None
    for event in walk(storage, stage, head):
        if event.modelkit == digest:
            return f"held {stage} (event {event.sequence})"
    return None


def _key_name(path: Path | str) -> str:
    return Path(path).name  # never record a machine's absolute path in an event


def signature_gates(storage: Storage, cand: Candidate, rules: StagePolicy | None) -> list[GateResult]:
    """One gate per ``signed_by`` key of ``rules``: is the candidate signed with it?"""
    out = []
    for key in rules.signed_by if rules else ():
        gate = f"signed_by {_key_name(key)}"
        from ocikit._trust._trust_check import verify_signed

        try:
            verify_signed(storage, event_reference(storage, cand.desc.digest), cand.desc, key)
        except SignatureError as e:
            out.append(GateResult(gate, "policy", False, None, str(e)))
        else:
            out.append(GateResult(gate, "policy", True, None, f"signed by {_key_name(key)}"))
    if rules is not None and rules.trust:
        from ocikit._stages._trust_gates import trust_gates

        out += trust_gates(storage, event_reference(storage, cand.desc.digest), cand.desc, rules)
    return out


def evaluate_gates(
    storage: Storage,
    cand: Candidate,
    require: Sequence[Expression],
    rules: StagePolicy | None,
) -> tuple[GateResult, ...]:
    """Every gate of a promotion, in the order the event records them: the ``require`` expressions,
    then the policy's expressions, its ``from`` rule and its ``signed_by`` keys."""
    results = [evaluate(e, cand.config, source="require") for e in require]
    if rules is not None:
        results += [evaluate(e, cand.config, source="policy") for e in rules.require]
        if rules.from_stages:
            gate = "from " + "|".join(rules.from_stages)
            how = next((h for s in rules.from_stages if (h := _held(storage, s, cand.desc.digest))), None)
            detail = how or f"{cand.desc.digest.short} never held {' or '.join(rules.from_stages)}"
            results.append(GateResult(gate, "policy", how is not None, None, detail))
        results += signature_gates(storage, cand, rules)
    return tuple(results)


def refuse_if_failed(stage: str, cand: Candidate, results: Iterable[GateResult]) -> None:
    """GateError listing every failed gate; nothing when all passed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return
    parts = [f"gate '{r.gate}' failed: {r.detail}" for r in failed]
    raise GateError(f"{cand.desc.digest.short} may not enter {stage}: " + "; ".join(parts))
