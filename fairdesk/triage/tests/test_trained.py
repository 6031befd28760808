"""Trained heads in the fast tier: which bundle is used, which fields they fill, and that
they never change what decides priority, nor fail on bad input."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairdesk.triage import FastTriage, bundle
from fairdesk.triage.fast import UNREADABLE
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.normalise import normalise
from fairdesk.triage.severity import severity_of
from fairdesk.triage.tests.heads import banking_sample, save_heads
from fairdesk.triage.tests.test_fairness import BASE_TEXTS
from fairdesk.triage.tests.test_hostile_input import HOSTILE
from fairdesk.triage.trained import SENTIMENT_NAMES, TrainedHeads, load_heads
from fairdesk.triage.types import SENTIMENTS

BAD_INPUT = [
    *HOSTILE,
    "😀😀😀🙏",
    "http://a.example/x https://b.example/y?z=1 www.c.example",
    "@user @user @user",
    "Bonjour, mon colis est perdu. My parcel is lost! 我的包裹丢了 — ¿dónde está?",
    "\ud800\udfff\ud83d",
    "a" * 100_000,
]


def set_meta(path: Path, **changes: object) -> None:
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    (path / "model.json").write_text(json.dumps({**meta, **changes}), encoding="utf-8")


def test_best_bundle_per_task(tmp_path: Path, models: dict[str, HashedLinearModel]) -> None:
    for name, score in [("sent-a", 60.0), ("sent-b", 70.0), ("sent-c", 70.0)]:
        bundle.save(
            models["sentiment"], tmp_path / name, task="sentiment", validation={"score": score}
        )
    set_meta(tmp_path / "sent-b", trained_at="2026-01-02T00:00:00+00:00")
    set_meta(tmp_path / "sent-c", trained_at="2026-01-01T00:00:00+00:00")
    bundle.save(models["irony"], tmp_path / "irony", task="irony")  # no validation score
    ranked = bundle.ranked_by_task(tmp_path)
    assert {t: [i.path.name for i in infos] for t, infos in ranked.items()} == {
        "sentiment": ["sent-b", "sent-c", "sent-a"],
        "irony": ["irony"],
    }
    best = bundle.best_by_task(tmp_path)["sentiment"]
    assert best.as_dict() == {
        "name": "sent-b",
        "task": "sentiment",
        "trained_at": "2026-01-02T00:00:00+00:00",
        "score": 70.0,
    }
    assert bundle.best_by_task(tmp_path / "missing") == {}


def test_load_heads_skips_what_it_cannot_use(
    tmp_path: Path, models: dict[str, HashedLinearModel], caplog: pytest.LogCaptureFixture
) -> None:
    save_heads(models, tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{not json", encoding="utf-8")
    bundle.save(models["irony"], tmp_path / "no-weights", task="irony", validation={"score": 99})
    (tmp_path / "no-weights" / "weights.npz").unlink()
    # The best sentiment bundle has Banking77's labels: skipped for the next best.
    bundle.save(models["banking77"], tmp_path / "odd", task="sentiment", validation={"score": 99})
    bundle.save(models["irony"], tmp_path / "custom", task="custom-task")
    with caplog.at_level(logging.WARNING):
        heads = load_heads(tmp_path)
    assert heads is not None
    assert heads.tasks == ("banking77", "irony", "offensive", "sentiment")
    assert [b["name"] for b in heads.describe()["bundles"]] == [
        "banking77",
        "irony",
        "offensive",
        "sentiment",
    ]
    assert heads.describe()["heads"] == ["banking77", "irony", "offensive", "sentiment"]
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "broken" in warnings and "no-weights" in warnings and "odd" in warnings
    assert load_heads(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert load_heads(tmp_path / "empty") is None


def test_heads_fill_their_fields(models: dict[str, HashedLinearModel]) -> None:
    texts = [
        "love great thanks app today",
        "hate broken awful phone again",
        "maybe tuesday address support",
        "I am still waiting on my card?",
        "You are idiots, my card payment was declined",
    ]
    trained = FastTriage(heads=TrainedHeads(models)).classify(texts)
    rules = FastTriage().classify(texts)
    clean = [normalise(t).clean for t in texts]
    sentiments = [SENTIMENT_NAMES[label] for label in models["sentiment"].predict(clean)]
    assert [r.sentiment for r in trained] == sentiments
    assert all(-1 <= r.sentiment_score <= 1 for r in trained)
    # FastTriage passes the head's score through unrounded: it must be rounded already.
    assert [round(r.sentiment_score, 4) for r in trained] == [r.sentiment_score for r in trained]
    assert [r.sentiment_score > 0 for r in trained if r.sentiment != "neutral"] == [
        s == "positive" for s in sentiments if s != "neutral"
    ]
    assert [r.irony for r in trained] == [p == "1" for p in models["irony"].predict(clean)]
    assert [r.support_intent for r in trained] == models["banking77"].predict(clean)
    head_offensive = [p == "1" for p in models["offensive"].predict(clean)]
    assert [r.offensive for r in trained] == [
        rule.offensive or head for rule, head in zip(rules, head_offensive, strict=True)
    ]
    assert trained[4].offensive is True  # the abuse lexicon still flags it
    assert {(r.emotion, r.hate) for r in trained} == {("", False)}  # no such bundles
    for with_heads, alone in zip(trained, rules, strict=True):
        assert (
            replace(
                with_heads,
                sentiment=alone.sentiment,
                sentiment_score=alone.sentiment_score,
                stance=alone.stance,
                offensive=alone.offensive,
                irony=False,
                support_intent="",
            )
            == alone
        )


def test_heads_never_change_what_decides_priority(models: dict[str, HashedLinearModel]) -> None:
    def decisive(results: list) -> list[tuple]:
        return [(severity_of(r), r.signals, r.topic, r.intent, r.spam) for r in results]

    trained = FastTriage(heads=TrainedHeads(models))
    assert decisive(trained.classify(BASE_TEXTS)) == decisive(FastTriage().classify(BASE_TEXTS))


@settings(max_examples=100, deadline=None)
@given(
    text=st.sampled_from(BASE_TEXTS),
    offensive=st.booleans(),
    hate=st.booleans(),
    irony=st.booleans(),
    emotion=st.sampled_from(["", "anger", "joy", "optimism", "sadness"]),
    sentiment=st.sampled_from(SENTIMENTS),
    score=st.floats(-1, 1),
)
def test_abuse_and_mood_never_move_severity(
    text: str, offensive: bool, hate: bool, irony: bool, emotion: str, sentiment: str, score: float
) -> None:
    result = FastTriage().classify([text])[0]
    changed = replace(
        result,
        offensive=offensive,
        hate=hate,
        irony=irony,
        emotion=emotion,
        sentiment=sentiment,
        sentiment_score=score,
    )
    assert severity_of(changed) == severity_of(result)


def test_bad_input_gets_a_defined_result(models: dict[str, HashedLinearModel]) -> None:
    triage = FastTriage(heads=TrainedHeads(models))
    results = triage.classify([*BAD_INPUT, None, 42])  # type: ignore[list-item]
    assert len(results) == len(BAD_INPUT) + 2
    assert [r is UNREADABLE for r in results] == [False] * len(results)
    intents = set(banking_sample()[1])
    assert all(r.sentiment in SENTIMENTS and r.support_intent in intents for r in results)
    assert results[-1].language == "und" and results[-1].signals == ()


def test_a_failing_text_does_not_stop_the_batch(
    models: dict[str, HashedLinearModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    heads = TrainedHeads(models)
    columns = heads.columns

    def flaky(texts: list[str]) -> dict:
        if "boom" in texts:
            raise RuntimeError("a head failed")
        return columns(texts)

    monkeypatch.setattr(heads, "columns", flaky)
    first, failed, last = FastTriage(heads=heads).classify(
        ["My internet is not working", "boom", "I am still waiting on my card?"]
    )
    assert failed is UNREADABLE
    assert first.signals == ("service_down",)
    assert last.support_intent == "card_arrival"
