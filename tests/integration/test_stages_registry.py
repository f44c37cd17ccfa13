"""Stages against the real registry (distribution 2.8: no referrers API, no conditional tag update)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import ocikit
from _registry_fixtures import TestRegistry, unique_repo
from fakes.stages import event_manifest, make_modelkits, run_at_once
from ocikit._oci._model import MANIFEST, Descriptor
from ocikit._oci._reference import Reference
from ocikit._ops._repos import open_repository
from ocikit._ops._stages import stages
from ocikit._stages._event import ANNOTATION_STAGE, EVENT_TYPE, head_tag
from ocikit._store._referrers import fallback_tag, list_referrers
from ocikit._store._storage import Storage
from ocikit.errors import GateError, HistoryError, SignatureError

pytestmark = pytest.mark.registry


@pytest.fixture
def repo(registry: TestRegistry, home: Path) -> tuple[str, Storage, dict[str, Descriptor]]:
    name = f"{registry.host}/{unique_repo('stages')}"
    storage = open_repository(Reference.parse(name, default_tag=None), home=home, options=registry.options)
    return name, storage, make_modelkits(storage)


def test_promote_rollback_history(registry: TestRegistry, home: Path,
                                  repo: tuple[str, Storage, dict[str, Descriptor]]) -> None:
    name, storage, kits = repo
    opts = {"home": home, "options": registry.options}
    ocikit.promote(f"{name}:1.3.0", "staging", new_stage=True, reason="nightly retrain", actor="ci", **opts)
    ocikit.promote(f"{name}:1.3.0", "production", new_stage=True, reason="passed shadow", actor="alice",
                   require=["model.parameters.metrics.f1 >= 0.90"], **opts)
    ocikit.promote(f"{name}:1.4.0", "production", reason="better f1", actor="bob", **opts)
    assert storage.resolve("production").digest == kits["1.4.0"].digest
    back = ocikit.rollback(name, "production", reason="f1 regression in 1.4.0", actor="carol", **opts)
    assert back.modelkit == kits["1.3.0"].digest and back.replaced == kits["1.4.0"].digest
    assert storage.resolve("production").digest == kits["1.3.0"].digest
    assert storage.resolve("1.4.0").digest == kits["1.4.0"].digest  # still pullable by version tag

    events = ocikit.history(name, "production", verify=True, **opts)
    assert [(e.sequence, e.action, e.actor) for e in events] == [
        (3, "rollback", "carol"), (2, "promote", "bob"), (1, "promote", "alice")]
    # the ModelKit's referrers (fallback tag on this registry) show its stage history
    assert storage.resolve(fallback_tag(kits["1.3.0"].digest))
    listed = list_referrers(storage, kits["1.3.0"].digest, EVENT_TYPE)
    assert sorted(d.annotations[ANNOTATION_STAGE] for d in listed) == ["production", "production", "staging"]
    status = {s.stage: s for s in stages(name, **opts)}
    assert status["production"].version == "1.3.0" and status["production"].actor == "carol"
    assert status["staging"].digest == kits["1.3.0"].digest


def test_refused_gate_and_policy_leave_the_registry_untouched(
        registry: TestRegistry, home: Path, repo: tuple[str, Storage, dict[str, Descriptor]],
        tmp_path: Path) -> None:
    name, storage, kits = repo
    opts = {"home": home, "options": registry.options}
    ocikit.promote(f"{name}:1.3.0", "production", new_stage=True, reason="first", **opts)
    tags_before = sorted(storage.tags())
    with pytest.raises(GateError, match=r"f1 >= 0.9.*is 0\.85"):
        ocikit.promote(f"{name}:1.5.0", "production", reason="x", require=["model.parameters.metrics.f1 >= 0.9"],
                       **opts)
    policy = tmp_path / "stages.yaml"
    policy.write_text("stages:\n  production:\n    from: [staging]\n")
    with pytest.raises(GateError, match="never held staging"):
        ocikit.promote(f"{name}:1.4.0", "production", reason="skip staging", policy=policy, **opts)
    assert sorted(storage.tags()) == tags_before
    assert storage.resolve("production").digest == kits["1.3.0"].digest
    assert len(ocikit.history(name, "production", **opts)) == 1
    ocikit.promote(f"{name}:1.4.0", "staging", new_stage=True, reason="ok", policy=policy, **opts)
    assert ocikit.promote(f"{name}:1.4.0", "production", reason="ok", policy=policy, **opts).sequence == 2


def test_forged_head_fails_verify(registry: TestRegistry, home: Path,
                                  repo: tuple[str, Storage, dict[str, Descriptor]]) -> None:
    name, storage, kits = repo
    opts = {"home": home, "options": registry.options}
    ocikit.promote(f"{name}:1.3.0", "production", new_stage=True, reason="first", actor="alice", **opts)
    real = ocikit.promote(f"{name}:1.4.0", "production", reason="second", actor="bob", **opts)
    # By hand: the same event with another reason and actor, pushed to the head tag.
    body = json.loads(real.to_bytes())
    body["reason"], body["actor"] = "approved by the board", "mallory"
    forged = event_manifest(storage, json.dumps(body).encode(), kits["1.4.0"], "production")
    storage.push_manifest(forged.to_bytes(), MANIFEST, tag=head_tag("production"))

    assert ocikit.history(name, "production", **opts)[0].actor == "mallory"
    with pytest.raises(HistoryError, match="not among the referrers"):
        ocikit.history(name, "production", verify=True, **opts)


def test_concurrent_promotions_are_all_recorded(registry: TestRegistry, home: Path,
                                                repo: tuple[str, Storage, dict[str, Descriptor]]) -> None:
    name, _, kits = repo
    opts = {"home": home, "options": registry.options}
    versions = ["1.3.0", "1.4.0", "1.5.0"]

    def run(version: str) -> None:
        ocikit.promote(f"{name}:{version}", "production", new_stage=True, reason=f"race {version}", actor=version, **opts)

    errors = run_at_once(versions, run)
    assert errors == []
    events = ocikit.history(name, "production", verify=True, **opts)
    assert sorted(e.sequence for e in events) == [1, 2, 3]
    assert {e.actor for e in events} == set(versions)
    assert {e.modelkit for e in events} == {kits[v].digest for v in versions}


def test_signed_events(registry: TestRegistry, home: Path, repo: tuple[str, Storage, dict[str, Descriptor]],
                       tmp_path: Path) -> None:
    name, _, _ = repo
    opts = {"home": home, "options": registry.options}
    private, public = ocikit.keygen(tmp_path / "release", password=b"")
    _, other = ocikit.keygen(tmp_path / "other", password=b"")
    ocikit.promote(f"{name}:1.3.0", "production", new_stage=True, reason="a", key=private, **opts)
    ocikit.promote(f"{name}:1.4.0", "production", reason="b", key=private, **opts)
    events = ocikit.history(name, "production", verify=True, key=public, **opts)
    assert all(e.signature_verified for e in events)
    with pytest.raises(SignatureError, match="event 2"):
        ocikit.history(name, "production", verify=True, key=other, **opts)


@pytest.mark.interop
def test_any_oci_client_sees_the_stage_tag(registry: TestRegistry, home: Path,
                                           repo: tuple[str, Storage, dict[str, Descriptor]]) -> None:
    name, _, kits = repo
    ocikit.promote(f"{name}:1.4.0", "production", new_stage=True, reason="ship", home=home, options=registry.options)
    out = subprocess.run(["skopeo", "inspect", "--raw", *registry.skopeo_tls_args, f"docker://{name}:production"],
                         capture_output=True, check=True, timeout=60)
    assert ocikit.Digest.of_bytes(out.stdout) == kits["1.4.0"].digest


def test_plain_tags_are_not_stages_and_rollback_takes_a_prefix(
        registry: TestRegistry, home: Path, repo: tuple[str, Storage, dict[str, Descriptor]]) -> None:
    from ocikit.errors import UsageError

    name, storage, kits = repo
    opts = {"home": home, "options": registry.options}
    storage.tag(kits["1.3.0"], "latest")
    with pytest.raises(UsageError, match=r"tag 'latest' .* not a stage"):
        ocikit.promote(f"{name}:1.4.0", "latest", reason="x", **opts)
    assert storage.resolve("latest").digest == kits["1.3.0"].digest
    with pytest.raises(UsageError, match="'production' is not a stage"):
        ocikit.promote(f"{name}:1.4.0", "production", reason="x", **opts)
    assert "production" not in storage.tags()
    ocikit.promote(f"{name}:1.3.0", "production", new_stage=True, reason="a", **opts)
    ocikit.promote(f"{name}:1.4.0", "production", reason="b", **opts)
    back = ocikit.rollback(name, "production", to=kits["1.3.0"].digest.short, reason="r", **opts)
    assert back.modelkit == kits["1.3.0"].digest
    assert storage.resolve("production").digest == kits["1.3.0"].digest
