"""Stages on in-process storages: promotion, gates, policy, rollback, the hash chain, races, signing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from fakes.stages import (
    LockstepStorage,
    event_manifest,
    make_modelkit,
    promote,
    rollback,
    run_at_once,
    ticking_clock,
)
from ocikit._io._digest import Digest
from ocikit._oci._model import EMPTY_CONFIG, EMPTY_JSON, MANIFEST, Descriptor, Manifest
from ocikit._schemas import validator
from ocikit._stages._chain import read_event
from ocikit._stages._event import ANNOTATION_STAGE, EVENT_TYPE, SCHEMA, StageEvent, default_actor, head_tag
from ocikit._stages._gates import GateResult
from ocikit._stages._history import history_in, list_stages
from ocikit._stages._write import push_event
from ocikit._store._layout import LocalStore
from ocikit._store._referrers import list_referrers, push_referrer
from ocikit._store._storage import MemoryStorage
from ocikit.errors import GateError, HistoryError, NotFoundError, SignatureError, UsageError


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage("registry.test/acme/sentiment")


def snapshot(storage: MemoryStorage) -> tuple[dict[str, Digest], set[Digest], set[Digest]]:
    return dict(storage.tag_map), set(storage.manifests), set(storage.blobs)


# ------------------------------------------------------------------------------- promotion


def test_promote_through_staging_to_production(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.3.0", 0.91)
    v2 = make_modelkit(storage, "1.4.0", 0.93)
    clock = ticking_clock()
    e1 = promote(storage, "1.3.0", "staging", new_stage=True, reason="nightly retrain", clock=clock)
    e2 = promote(storage, "1.3.0", "production", new_stage=True, reason="passed shadow", actor="bob", clock=clock,
                 require=["model.parameters.metrics.f1 >= 0.90"])
    e3 = promote(storage, "1.4.0", "staging", reason="nightly retrain", clock=clock)
    e4 = promote(storage, "1.4.0", "production", reason="better f1", actor="carol", clock=clock)

    assert storage.resolve("staging").digest == v2.digest
    assert storage.resolve("production").digest == v2.digest
    assert storage.resolve(head_tag("production")).digest == e4.digest
    assert head_tag("production") == "stage.production"
    # the version tags are untouched
    assert storage.resolve("1.3.0").digest == v1.digest

    assert (e1.sequence, e1.previous, e1.replaced, e1.version) == (1, None, None, "1.3.0")
    assert (e2.sequence, e2.previous, e2.replaced) == (1, None, None)
    assert (e4.sequence, e4.previous, e4.replaced) == (2, e2.digest, v1.digest)
    assert e3.previous == e1.digest
    assert e2.gates == (GateResult("model.parameters.metrics.f1 >= 0.9", "require", True, 0.91,
                                   e2.gates[0].detail),)
    assert e2.time == "2023-11-14T22:14:20Z" and e4.time == "2023-11-14T22:16:20Z"

    events = history_in(storage, "production")
    assert [(e.sequence, e.actor, e.reason, e.modelkit) for e in events] == [
        (2, "carol", "better f1", v2.digest),
        (1, "bob", "passed shadow", v1.digest),
    ]
    assert history_in(storage, "production", verify=True) == events

    status = {s.stage: s for s in list_stages(storage)}
    assert set(status) == {"staging", "production"}
    assert status["production"].digest == v2.digest
    assert status["production"].version == "1.4.0"
    assert status["production"].actor == "carol"
    assert status["production"].since == e4.time
    assert status["production"].in_sync


def test_event_is_a_referrer_of_the_modelkit_and_matches_the_schema(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9)
    event = promote(storage, "1.0.0", "staging", new_stage=True, require=["model.parameters.metrics.f1 > 0.5"])
    listed = list_referrers(storage, v1.digest, EVENT_TYPE)
    assert [d.digest for d in listed] == [event.digest]
    assert listed[0].annotations[ANNOTATION_STAGE] == "staging"
    manifest = Manifest.from_bytes(storage.manifests[event.digest][1])
    assert manifest.artifact_type == EVENT_TYPE
    assert manifest.config.media_type == EMPTY_CONFIG
    assert manifest.subject is not None and manifest.subject.digest == v1.digest
    body = json.loads(storage.blobs[manifest.layers[0].digest])
    assert list(validator(SCHEMA).iter_errors(body)) == []
    assert body["modelkit"] == {"digest": str(v1.digest), "version": "1.0.0"}
    assert body["gates"][0]["actual"] == 0.9
    assert StageEvent.from_bytes(event.to_bytes(), where="t", digest=event.digest) == event


def test_promote_by_digest_and_version_from_tag(storage: MemoryStorage) -> None:
    desc = make_modelkit(storage, "", 0.9, tag="2.0.0")  # no package.version: fall back to the tag
    event = promote(storage, "2.0.0", "staging", new_stage=True, tag="2.0.0")
    assert event.version == "2.0.0"
    again = promote(storage, str(desc.digest), "production", new_stage=True)
    assert again.version is None and again.modelkit == desc.digest


def test_failed_gate_refuses_and_changes_nothing(storage: MemoryStorage) -> None:
    make_modelkit(storage, "1.3.0", 0.95)
    make_modelkit(storage, "1.4.0", 0.87)
    promote(storage, "1.3.0", "production", new_stage=True)
    before = snapshot(storage)
    with pytest.raises(GateError) as info:
        promote(storage, "1.4.0", "production", require=["model.parameters.metrics.f1 >= 0.90",
                                                       "package.version == '1.4.0'"])
    message = str(info.value)
    assert "model.parameters.metrics.f1 >= 0.9" in message
    assert "0.87" in message
    assert "package.version" not in message  # only failing gates are listed
    assert info.value.exit_code == 3
    assert snapshot(storage) == before


def test_bad_expression_is_a_usage_error_before_anything(storage: MemoryStorage) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    before = snapshot(storage)
    with pytest.raises(UsageError, match="invalid gate expression"):
        promote(storage, "1.0.0", "staging", new_stage=True, require=["f1 >= 0.9 or True"])
    with pytest.raises(UsageError, match="invalid stage name"):
        promote(storage, "1.0.0", "Prod")
    with pytest.raises(UsageError, match="invalid stage name"):
        promote(storage, "1.0.0", "stage.production")
    with pytest.raises(UsageError, match="reason"):
        promote(storage, "1.0.0", "staging", reason="  ")
    assert snapshot(storage) == before


def test_policy_forbids_skipping_staging(storage: MemoryStorage, tmp_path: Path) -> None:
    policy = tmp_path / "stages.yaml"
    policy.write_text(
        "stages:\n"
        "  staging:\n    require: model.parameters.metrics.f1 >= 0.8\n"
        "  production:\n    from: [staging, shadow]\n    require: [model.parameters.metrics.f1 >= 0.9]\n"
    )
    make_modelkit(storage, "1.3.0", 0.92)
    make_modelkit(storage, "1.4.0", 0.93)
    before = snapshot(storage)
    with pytest.raises(GateError, match=r"from staging\|shadow.*never held staging or shadow"):
        promote(storage, "1.4.0", "production", policy=policy)
    assert snapshot(storage) == before

    promote(storage, "1.3.0", "staging", policy=policy)
    event = promote(storage, "1.3.0", "production", policy=policy)
    assert [g.gate for g in event.gates] == ["model.parameters.metrics.f1 >= 0.9", "from staging|shadow"]
    assert event.gates[1].detail == "holds staging"
    # 1.3.0 has since left staging; having held it is enough
    promote(storage, "1.4.0", "staging", policy=policy)
    promote(storage, "1.4.0", "production", policy=policy)
    rerun = promote(storage, "1.3.0", "production", policy=policy)
    assert rerun.gates[1].detail == "held staging (event 1)"


def test_policy_can_refuse_unlisted_stages(storage: MemoryStorage, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("allow_unlisted: false\nstages:\n  staging: {}\n")
    make_modelkit(storage, "1.0.0", 0.9)
    with pytest.raises(GateError, match="does not allow stage 'canary'"):
        promote(storage, "1.0.0", "canary", policy=policy)
    assert promote(storage, "1.0.0", "staging", policy=policy).sequence == 1


def test_stage_tag_set_by_hand_is_recorded_as_replaced(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9, tag="production")
    make_modelkit(storage, "1.1.0", 0.9)
    event = promote(storage, "1.1.0", "production", new_stage=True)
    assert event.replaced == v1.digest and event.previous is None


def test_head_tag_that_is_not_an_event_is_refused(storage: MemoryStorage) -> None:
    desc = make_modelkit(storage, "1.0.0", 0.9)
    storage.tag(desc, "stage.production")
    with pytest.raises(HistoryError, match="not a stage event"):
        promote(storage, "1.0.0", "production")


def test_not_a_modelkit(storage: MemoryStorage) -> None:
    from ocikit.errors import NotAModelKitError

    storage.push_blob(Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    m = Manifest(Descriptor.for_bytes(EMPTY_CONFIG, EMPTY_JSON), ())
    storage.push_manifest(m.to_bytes(), MANIFEST, tag="other")
    with pytest.raises(NotAModelKitError):
        promote(storage, "other", "staging", new_stage=True)


# --------------------------------------------------------------------------------- rollback


def test_rollback_to_previous_occupant(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.2.0", 0.90)
    v2 = make_modelkit(storage, "1.3.0", 0.91)
    v3 = make_modelkit(storage, "1.4.0", 0.92)
    clock = ticking_clock()
    for v in ("1.2.0", "1.3.0", "1.4.0"):
        promote(storage, v, "production", new_stage=True, clock=clock)
    back = rollback(storage, "production", reason="f1 regression in 1.4.0", actor="dave", clock=clock,
                       settle=0.0)
    assert (back.action, back.modelkit, back.replaced, back.version, back.sequence) == (
        "rollback", v2.digest, v3.digest, "1.3.0", 4)
    assert storage.resolve("production").digest == v2.digest
    assert storage.resolve("1.4.0").digest == v3.digest  # the demoted version stays pullable
    # a second rollback goes further back instead of returning to 1.4.0
    again = rollback(storage, "production", reason="1.3.0 too", actor="dave", clock=clock, settle=0.0)
    assert again.modelkit == v1.digest and again.replaced == v2.digest
    assert storage.resolve("production").digest == v1.digest
    with pytest.raises(NotFoundError, match="no earlier version"):
        rollback(storage, "production", reason="nothing left", actor="dave", settle=0.0)
    events = history_in(storage, "production", verify=True)
    assert [e.action for e in events] == ["rollback", "rollback", "promote", "promote", "promote"]
    assert [e.sequence for e in events] == [5, 4, 3, 2, 1]


def test_rollback_to_a_digest(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9)
    make_modelkit(storage, "1.1.0", 0.9)
    other = make_modelkit(storage, "9.9.9", 0.9)
    promote(storage, "1.0.0", "production", new_stage=True)
    promote(storage, "1.1.0", "production")
    before = snapshot(storage)
    with pytest.raises(GateError, match="never held stage production"):
        rollback(storage, "production", to=other.digest, reason="x", actor="a", settle=0.0)
    assert snapshot(storage) == before
    event = rollback(storage, "production", to=str(v1.digest), reason="back", actor="a", settle=0.0)
    assert event.modelkit == v1.digest
    with pytest.raises(GateError, match="already holds"):
        rollback(storage, "production", to=v1.digest, reason="x", actor="a", settle=0.0)


def test_rollback_without_history(storage: MemoryStorage) -> None:
    with pytest.raises(NotFoundError, match="no history"):
        rollback(storage, "production", reason="x", actor="a", settle=0.0)


# ------------------------------------------------------------------------- chain verification


def _forge(storage: MemoryStorage, real: StageEvent, subject: Descriptor, *, referrer: bool, **changes: Any) -> Digest:
    """What an attacker with write access does: a new event (same previous) pushed to the head tag."""
    from dataclasses import replace

    forged = replace(real, digest=None, **changes)
    if referrer:
        desc = push_event(storage, forged, subject)
    else:
        m = event_manifest(storage, forged.to_bytes(), subject, forged.stage)
        desc = storage.push_manifest(m.to_bytes(), MANIFEST)
    storage.tag(desc, head_tag(real.stage))
    return desc.digest


@pytest.mark.parametrize("referrer", [False, True], ids=["tag-only", "also-referrer"])
def test_verify_catches_a_forged_head(storage: MemoryStorage, referrer: bool) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    v2 = make_modelkit(storage, "1.1.0", 0.9)
    promote(storage, "1.0.0", "production", new_stage=True)
    real = promote(storage, "1.1.0", "production", reason="passed shadow")
    history_in(storage, "production", verify=True)
    _forge(storage, real, v2, referrer=referrer, reason="approved by the CTO", actor="mallory")
    # the forged head is well-formed, so a plain read shows it...
    assert history_in(storage, "production")[0].actor == "mallory"
    # ...but --verify cross-checks the chain against the ModelKit's referrers
    with pytest.raises(HistoryError) as info:
        history_in(storage, "production", verify=True)
    expected = "is not in the chain" if referrer else "is not among the referrers"
    assert expected in str(info.value)
    assert info.value.exit_code == 3


def test_missing_event_breaks_the_chain(storage: MemoryStorage) -> None:
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        make_modelkit(storage, v, 0.9)
    first = promote(storage, "1.0.0", "production", new_stage=True)
    promote(storage, "1.1.0", "production")
    promote(storage, "1.2.0", "production")
    assert first.digest is not None
    del storage.manifests[first.digest]
    with pytest.raises(HistoryError, match=r"event 1 of stage production .* is missing"):
        history_in(storage, "production")


def test_promotion_on_a_broken_chain_is_refused_unless_allowed(storage: MemoryStorage) -> None:
    for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        make_modelkit(storage, v, 0.9)
    promote(storage, "1.0.0", "production", new_stage=True)
    second = promote(storage, "1.1.0", "production")
    promote(storage, "1.2.0", "production")
    assert second.digest is not None
    del storage.manifests[second.digest]  # a retention policy removed event 2
    before = snapshot(storage)
    with pytest.raises(HistoryError, match=r"history of stage production .* is broken") as e:
        promote(storage, "1.3.0", "production")
    assert "--allow-broken-history" in (e.value.hint or "")
    assert snapshot(storage) == before  # nothing written
    event = promote(storage, "1.3.0", "production", reason="hotfix", allow_broken_history=True)
    assert event.sequence == 4 and event.reason.startswith("hotfix [promoted over a broken history: event 2")
    assert storage.resolve("production").digest == storage.resolve("1.3.0").digest


def test_altered_event_body_is_detected(storage: MemoryStorage) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    make_modelkit(storage, "1.1.0", 0.9)
    first = promote(storage, "1.0.0", "production", new_stage=True, reason="original")
    promote(storage, "1.1.0", "production")
    assert first.digest is not None
    layer = Manifest.from_bytes(storage.manifests[first.digest][1]).layers[0]
    storage.blobs[layer.digest] = storage.blobs[layer.digest].replace(b"original", b"tampered")
    with pytest.raises(HistoryError, match="event 1"):
        history_in(storage, "production")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sequence": 4}, "events are missing or out of order"),
        ({"time": "2020-01-01T00:00:00Z"}, "out of order"),
        ({"replaced": Digest.of_bytes(b"x")}, "chain was altered"),
        ({"stage": "staging"}, "holds an event of stage 'staging'"),
    ],
)
def test_broken_links_are_refused(storage: MemoryStorage, changes: dict[str, Any], message: str) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    v2 = make_modelkit(storage, "1.1.0", 0.9)
    clock = ticking_clock()
    promote(storage, "1.0.0", "production", new_stage=True, clock=clock)
    real = promote(storage, "1.1.0", "production", clock=clock)
    _forge(storage, real, v2, referrer=True, **changes)
    with pytest.raises(HistoryError, match=message):
        history_in(storage, "production")


def test_event_not_matching_the_schema_is_refused(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9)
    body = json.dumps({"stage": "production", "sequence": 1, "evil": True}).encode()
    push = push_referrer(storage, event_manifest(storage, body, v1, "production"))
    storage.tag(push, head_tag("production"))
    with pytest.raises(HistoryError, match="does not match the stage event schema"):
        history_in(storage, "production")
    with pytest.raises(HistoryError):
        promote(storage, "1.0.0", "production")


def test_stage_tag_moved_outside_ocikit(storage: MemoryStorage) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    other = make_modelkit(storage, "6.6.6", 0.1)
    promote(storage, "1.0.0", "production", new_stage=True)
    storage.tag(other, "production")
    assert not list_stages(storage)[0].in_sync
    with pytest.raises(HistoryError, match="moved outside ocikit"):
        history_in(storage, "production", verify=True)


def test_read_event_refuses_other_artifacts(storage: MemoryStorage) -> None:
    desc = make_modelkit(storage, "1.0.0", 0.9)
    with pytest.raises(HistoryError, match="not a stage event"):
        read_event(storage, desc.digest)


# ------------------------------------------------------------------------------------ races


def test_concurrent_promotions_are_all_recorded() -> None:
    """Every writer reads the same head and passes the check before tagging, every round
    (:class:`LockstepStorage`): each round's lost writes must be seen and written again."""
    versions = [f"1.{i}.0" for i in range(4)]
    storage = LockstepStorage("registry.test/acme/race", stage="production", writers=len(versions))
    digests = {make_modelkit(storage, v, 0.9).digest for v in versions}
    results: list[StageEvent] = []

    def run(version: str) -> None:
        results.append(promote(storage, version, "production", new_stage=True, reason=f"race {version}",
                               actor=version))

    errors = run_at_once(versions, run)
    assert errors == []
    assert storage.rounds == len(versions)  # the race really happened: one winner per round
    events = history_in(storage, "production", verify=True)
    assert sorted(e.sequence for e in events) == [1, 2, 3, 4]
    assert {e.modelkit for e in events} == digests  # nobody's event was lost
    assert {e.digest for e in results} == {e.digest for e in events}
    assert sorted(len(e.abandoned) for e in results) == [0, 1, 2, 3]  # each lost attempt is on record
    assert storage.resolve("production").digest == events[0].modelkit


@pytest.mark.parametrize("when", ["right-after-our-tag", "during-settle"])
def test_lost_head_write_is_detected_and_rewritten(when: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulates a registry without compare-and-swap: another writer, which had read the same head,
    overwrites our fresh head (before our read-back, or after it while we settle)."""
    import ocikit._stages._write as write_module

    storage = MemoryStorage("registry.test/acme/lost")
    make_modelkit(storage, "1.0.0", 0.9)
    v2 = make_modelkit(storage, "2.0.0", 0.9)
    v3 = make_modelkit(storage, "3.0.0", 0.9)
    base = promote(storage, "1.0.0", "production", new_stage=True)
    original_tag = storage.tag
    state = {"done": False}

    def other_writer() -> None:
        from dataclasses import replace

        state["done"] = True
        theirs = replace(base, sequence=2, modelkit=v3.digest, version="3.0.0", replaced=base.modelkit,
                         previous=base.digest, actor="other", reason="theirs", digest=None)
        original_tag(push_event(storage, theirs, v3), head_tag("production"))

    def racing_tag(desc: Descriptor, tag: str) -> None:
        original_tag(desc, tag)
        if when == "right-after-our-tag" and tag == head_tag("production") and not state["done"]:
            other_writer()

    def racing_sleep(seconds: float) -> None:
        if when == "during-settle" and seconds == 0.5 and not state["done"]:
            other_writer()

    storage.tag = racing_tag  # type: ignore[method-assign]
    monkeypatch.setattr(write_module.time, "sleep", racing_sleep)
    ours = promote(storage, "2.0.0", "production", settle=0.5)
    assert state["done"]
    events = history_in(storage, "production", verify=True)
    assert [(e.sequence, e.actor) for e in events] == [(3, "alice"), (2, "other"), (1, "alice")]
    assert ours.sequence == 3 and len(ours.abandoned) == 1
    assert ours.replaced == v3.digest
    assert storage.resolve("production").digest == v2.digest


# ---------------------------------------------------------------------------------- signing


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from ocikit._trust._signing import keygen

    d = tmp_path_factory.mktemp("keys")
    private, public = keygen(d / "release", password=b"")
    _, other_public = keygen(d / "other", password=b"")
    return private, public, other_public


def test_signed_events_verify_and_a_wrong_key_is_refused(storage: MemoryStorage,
                                                         keys: tuple[Path, Path, Path]) -> None:
    private, public, other = keys
    make_modelkit(storage, "1.0.0", 0.9)
    make_modelkit(storage, "1.1.0", 0.9)
    promote(storage, "1.0.0", "production", new_stage=True, key=private)
    promote(storage, "1.1.0", "production", key=private)
    events = history_in(storage, "production", verify=True, key=public)
    assert [e.signature_verified for e in events] == [True, True]
    with pytest.raises(SignatureError, match="stage production: event 2"):
        history_in(storage, "production", verify=True, key=other)


def test_unsigned_event_fails_signature_check(storage: MemoryStorage, keys: tuple[Path, Path, Path]) -> None:
    private, public, _ = keys
    make_modelkit(storage, "1.0.0", 0.9)
    make_modelkit(storage, "1.1.0", 0.9)
    promote(storage, "1.0.0", "production", new_stage=True, key=private)
    promote(storage, "1.1.0", "production")  # someone promoted without the key
    with pytest.raises(SignatureError, match=r"event 2.*not signed"):
        history_in(storage, "production", verify=True, key=public)


def test_policy_requires_a_signed_candidate(storage: MemoryStorage, keys: tuple[Path, Path, Path],
                                            tmp_path: Path) -> None:
    from ocikit._oci._reference import Reference
    from ocikit._trust._signing import sign_descriptor

    private, public, _ = keys
    policy = tmp_path / "stages.yaml"
    policy.write_text(f"stages:\n  production:\n    signed_by: {public}\n")
    desc = make_modelkit(storage, "1.0.0", 0.9)
    before = snapshot(storage)
    with pytest.raises(GateError, match=f"signed_by {public.name}.*not signed"):
        promote(storage, "1.0.0", "production", policy=policy)
    assert snapshot(storage) == before
    sign_descriptor(storage, Reference.parse(f"{storage.name}:1.0.0"), desc, private)
    event = promote(storage, "1.0.0", "production", policy=policy)
    assert event.gates[0].passed and event.gates[0].gate == f"signed_by {public.name}"
    assert str(tmp_path) not in event.to_bytes().decode()  # no machine paths in events


# ------------------------------------------------------------------------------- local store


def test_local_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    repo = store.repository("localhost/acme/sentiment")
    v1 = make_modelkit(repo, "1.0.0", 0.9)
    v2 = make_modelkit(repo, "1.1.0", 0.95)
    promote(repo, "1.0.0", "staging", new_stage=True)
    promote(repo, "1.0.0", "production", new_stage=True)
    promote(repo, "1.1.0", "production", require=["model.parameters.metrics.f1 >= 0.95"])
    back = rollback(repo, "production", reason="regression", actor="eve", settle=0.0)
    assert back.modelkit == v1.digest
    assert repo.resolve("production").digest == v1.digest
    assert repo.resolve("1.1.0").digest == v2.digest
    events = history_in(repo, "production", verify=True)
    assert [(e.action, e.actor) for e in events] == [("rollback", "eve"), ("promote", "alice"), ("promote", "alice")]
    # a fresh handle on the same directory sees the same thing
    again = LocalStore(tmp_path / "store").repository("localhost/acme/sentiment")
    assert [s.stage for s in list_stages(again)] == ["production", "staging"]


# ---------------------------------------------------------------------------- clock and actor


def test_default_clock_honours_source_date_epoch(storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    make_modelkit(storage, "1.0.0", 0.9)
    assert promote(storage, "1.0.0", "staging", new_stage=True).time == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize("value", ["yesterday", "1.5", "99999999999999999999"])
def test_unreadable_source_date_epoch_is_refused_not_replaced_by_now(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        promote(storage, "1.0.0", "staging", new_stage=True)
    assert "staging" not in storage.tags()  # refused before anything was written


def test_default_actor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USER", "ci-bot")
    assert default_actor() == "ci-bot"
    (tmp_path / "gitconfig").write_text("[user]\n\tname = Ada Lovelace\n")
    assert default_actor() == "Ada Lovelace"


# ------------------------------------------------------------------ declared stages, --new-stage


@pytest.mark.parametrize("tag", ["latest", "v2"])
def test_a_plain_tag_is_not_moved_without_new_stage(storage: MemoryStorage, tag: str) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9)
    storage.tag(v1, tag)
    make_modelkit(storage, "2.0.0", 0.9)
    before = snapshot(storage)
    with pytest.raises(UsageError, match=rf"tag '{tag}' of registry.test/acme/sentiment exists .* not a stage") as e:
        promote(storage, "2.0.0", tag)
    assert "--new-stage" in (e.value.hint or "")
    assert snapshot(storage) == before
    event = promote(storage, "2.0.0", tag, new_stage=True)
    assert event.replaced == v1.digest and event.sequence == 1
    assert promote(storage, "1.0.0", tag).sequence == 2  # now a stage: no flag needed


def test_a_version_tag_is_never_a_stage(storage: MemoryStorage) -> None:
    make_modelkit(storage, "1.1.0", 0.9)
    make_modelkit(storage, "1.2.0", 0.9)
    with pytest.raises(UsageError, match=r"invalid stage name '1\.1\.0'"):
        promote(storage, "1.2.0", "1.1.0", new_stage=True)
    assert storage.resolve("1.1.0").digest != storage.resolve("1.2.0").digest


def test_a_new_stage_needs_new_stage_or_the_policy(storage: MemoryStorage, tmp_path: Path) -> None:
    make_modelkit(storage, "1.0.0", 0.9)
    before = snapshot(storage)
    with pytest.raises(UsageError, match=r"'staging' is not a stage of registry\.test/acme/sentiment") as e:
        promote(storage, "1.0.0", "staging")
    assert "--new-stage" in (e.value.hint or "") and "ocikit stages" in (e.value.hint or "")
    policy = tmp_path / "p.yaml"
    policy.write_text("stages:\n  staging: {}\n")
    with pytest.raises(UsageError, match=r"'canary' is not a stage .* not named in the policy"):
        promote(storage, "1.0.0", "canary", policy=policy)
    assert snapshot(storage) == before
    assert promote(storage, "1.0.0", "staging", policy=policy).sequence == 1  # declared in the policy
    assert promote(storage, "1.0.0", "canary", policy=policy, new_stage=True).sequence == 1


def test_a_policy_stage_that_exists_as_a_plain_tag_still_needs_new_stage(storage: MemoryStorage,
                                                                         tmp_path: Path) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9, tag="production")
    make_modelkit(storage, "1.1.0", 0.9)
    policy = tmp_path / "p.yaml"
    policy.write_text("stages:\n  production: {}\n")
    with pytest.raises(UsageError, match=r"exists .* not a stage"):
        promote(storage, "1.1.0", "production", policy=policy)
    assert storage.resolve("production").digest == v1.digest


# ----------------------------------------------------------------------- rollback by prefix


def test_rollback_to_a_digest_prefix(storage: MemoryStorage) -> None:
    v1 = make_modelkit(storage, "1.0.0", 0.9)
    v2 = make_modelkit(storage, "1.1.0", 0.9)
    make_modelkit(storage, "1.2.0", 0.9)
    other = make_modelkit(storage, "9.9.9", 0.9)
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        promote(storage, v, "production", new_stage=v == "1.0.0")
    event = rollback(storage, "production", to=v1.digest.short, reason="back", actor="a", settle=0.0)
    assert event.modelkit == v1.digest  # the 12-hex form 'history' shows
    event = rollback(storage, "production", to=v2.digest.hex[:7], reason="fwd", actor="a", settle=0.0)
    assert event.modelkit == v2.digest  # bare hex, 7 digits
    with pytest.raises(NotFoundError, match=f"no digest starting with {other.digest.hex[:10]}"):
        rollback(storage, "production", to=other.digest.hex[:10], reason="x", actor="a", settle=0.0)
    with pytest.raises(UsageError, match="not a digest"):
        rollback(storage, "production", to=v1.digest.hex[:6], reason="x", actor="a", settle=0.0)


def test_an_ambiguous_digest_prefix_names_the_candidates(storage: MemoryStorage) -> None:
    from ocikit._stages._promote import _match_digest

    a, b = Digest("sha256", "abcdef1" + "0" * 57), Digest("sha256", "abcdef1" + "1" * 57)
    c = Digest("sha256", "1234567" + "0" * 57)
    with pytest.raises(UsageError, match="ambiguous") as e:
        _match_digest(storage, "production", "sha256:abcdef1", [a, b, c])
    assert str(a) in str(e.value) and str(b) in str(e.value) and str(c) not in str(e.value)
    assert _match_digest(storage, "production", "abcdef10", [a, b, c]) == a
    assert _match_digest(storage, "production", str(c), [a, b]) == c  # a full digest is taken as is


def test_rollback_of_an_unknown_stage_points_at_ocikit_stages(storage: MemoryStorage) -> None:
    with pytest.raises(NotFoundError, match="no history") as e:
        rollback(storage, "production", reason="x", actor="a", settle=0.0)
    assert "ocikit stages registry.test/acme/sentiment" in (e.value.hint or "")
