"""Static embeddings (model2vec) in the fast tier: the static model, static heads, their
bundles and where the pipeline uses them.

Most tests use a tiny static model built here (a WordPiece tokenizer over a few words and
random vectors), so they need neither torch nor the MiniLM weights; the distillation test
runs the real encoder on a small slice of its vocabulary and skips without the deep extra.
"""

from __future__ import annotations

import json
import logging
import random
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairdesk.triage import FastTriage, bundle, deep, static, static_heads
from fairdesk.triage.bundle import BundleError, best_by_task
from fairdesk.triage.deep_heads import planned_tiers
from fairdesk.triage.fast import UNREADABLE
from fairdesk.triage.ngrams import MAX_CHARS
from fairdesk.triage.static import StaticEmbedder, StaticUnavailable
from fairdesk.triage.tests.heads import NEUTRAL
from fairdesk.triage.tests.synthetic import FILLER, NEG, POS, synthetic
from fairdesk.triage.tests.test_trained import BAD_INPUT
from fairdesk.triage.trained import load_heads
from fairdesk.triage.types import SENTIMENTS

WORDS = sorted({*POS, *NEG, *FILLER, *NEUTRAL, "face", "joy"})
VECTORIZER = {"n_features": 2**14}  # small: quick to fit, enough for these words


def tiny_model(out: Path, seed: int = 0, dim: int = 8) -> Path:
    """A static model over ``WORDS`` (lower-cased WordPiece, [UNK] for anything else)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    vectors = np.random.default_rng(seed).normal(size=(len(vocab), dim)).astype(np.float16)
    vectors[vocab["[UNK]"]] = 0
    static.write_model(out, vectors, tokenizer)
    return out


@pytest.fixture
def embedder(tmp_path: Path) -> StaticEmbedder:
    return StaticEmbedder(tiny_model(tmp_path / "static"))


def flags(n: int = 200, seed: int = 0) -> tuple[list[str], list[str]]:
    return synthetic(n, seed)


def save_static_head(
    embedder: StaticEmbedder, directory: Path, task: str = "irony", score: float = 60.0
) -> static_heads.StaticHead:
    texts, labels = flags()
    head = static_heads.train_head(task, texts, labels, embedder, scale=1.0, vectorizer=VECTORIZER)
    static_heads.save(
        head,
        directory / "static" / task,
        task=task,
        static=embedder.describe(),
        validation={"score": score},
    )
    return head


def save_plain_head(directory: Path, task: str = "irony", score: float = 50.0) -> None:
    from fairdesk.triage import hashed

    model = hashed.train(*flags(), vectorizer=VECTORIZER)
    bundle.save(model, directory / task, task=task, validation={"score": score})


# --- the static model --------------------------------------------------------------------


def test_embedding_is_the_normalised_mean_of_known_tokens(embedder: StaticEmbedder) -> None:
    x = embedder.embed(["love love", "LOVE", "love the", "love zzqx", "", "\u2e3b\u2e3b", "😂"])
    love = embedder.vectors[embedder.tokenizer.token_to_id("love")]
    the = embedder.vectors[embedder.tokenizer.token_to_id("the")]
    np.testing.assert_allclose(x[0], love / np.linalg.norm(love), rtol=1e-5)
    np.testing.assert_allclose(x[1], x[0])  # lower-cased
    mean = (love + the) / np.linalg.norm(love + the)
    np.testing.assert_allclose(x[2], mean, rtol=1e-5)
    np.testing.assert_allclose(x[3], x[0], rtol=1e-5)  # [UNK] is left out
    assert not x[4].any() and not x[5].any()  # nothing known: the zero vector
    np.testing.assert_allclose(x[6], embedder.embed(["face joy"])[0], rtol=1e-5)  # by name
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_emoji_are_read_by_their_names() -> None:
    assert static.prepare("so happy 😂!") == "so happy  face with tears of joy !"
    assert static.prepare("\ud83d ok") == "? ok" and static.prepare(None) == ""
    assert len(static.prepare("😂" * 200_000)) == MAX_CHARS


def test_chunked_tokens_are_the_tokenizers_own(
    embedder: StaticEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts: list[Any] = [
        *BAD_INPUT,
        "Love,the APP!!! #awful...again?",
        "thanks\t\tsupport\r\nmy  phone 我的 order",
        "love😂love",
        "\uff2c\uff4f\uff56\uff45 the app",  # full-width "Love"
        None,
    ]

    def reference() -> list[list[int]]:
        prepared = [static.prepare(t) for t in texts]
        unk = embedder.tokenizer.token_to_id("[UNK]")
        encoded = embedder.tokenizer.encode_batch_fast(prepared, add_special_tokens=False)
        return [[i for i in e.ids if i != unk] for e in encoded]

    def ours() -> list[list[int]]:
        ids, indptr = embedder.token_ids(texts)
        return [ids[a:b].tolist() for a, b in pairwise(indptr)]

    assert ours() == reference()
    assert ours() == reference()  # from the cache
    monkeypatch.setattr(static, "CHUNK_CACHE", 3)  # the cache is emptied when full
    embedder.embed(["unrelated words"])
    assert set(embedder._chunks) == {"unrelated", "words"}
    assert ours() == reference() and "unrelated" not in embedder._chunks


def test_threads_share_the_chunk_cache(
    embedder: StaticEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(static, "CHUNK_CACHE", 8)  # emptied all the time
    batches = [
        [" ".join(random.Random(i * 100 + j).sample(WORDS, 5)) for j in range(50)]
        for i in range(16)
    ]
    expected = [embedder.embed(batch) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(embedder.embed, batches))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_input_gets_a_defined_embedding(embedder: StaticEmbedder) -> None:
    texts: list[Any] = [*BAD_INPUT, None, 42, "\ud83d love", "love " * 30_000]
    x = embedder.embed(texts)
    assert x.shape == (len(texts), embedder.dim) and x.dtype == np.float32
    assert np.isfinite(x).all()
    norms = np.linalg.norm(x, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    assert norms[-2] > 0 and norms[-1] > 0  # a lone surrogate does not hide the words


def test_model2vec_loads_the_static_model_and_agrees(
    embedder: StaticEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(embedder.model_dir)
    texts = ["love the app", "worst support again", "thanks"]
    np.testing.assert_allclose(model.encode(texts), embedder.embed(texts), atol=1e-3)


def test_missing_or_broken_static_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StaticUnavailable, match="triage distill"):
        StaticEmbedder(tmp_path)
    tiny_model(tmp_path)
    (tmp_path / static.VECTORS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(StaticUnavailable, match="cannot read"):
        StaticEmbedder(tmp_path)


# --- static heads and their bundles --------------------------------------------------------


def test_static_head_learns_and_round_trips(embedder: StaticEmbedder, tmp_path: Path) -> None:
    head = save_static_head(embedder, tmp_path)
    texts, labels = flags(60, seed=1)
    predicted = head.predict(texts, embedder)
    assert np.mean([p == g for p, g in zip(predicted, labels, strict=True)]) > 0.9
    loaded, meta = static_heads.load(tmp_path / "static" / "irony")
    assert meta["format"] == static_heads.FORMAT and meta["tier"] == "static"
    assert meta["static"]["weights_sha256"] == embedder.describe()["weights_sha256"]
    assert meta["static"]["dim"] == embedder.dim and loaded.scale == head.scale
    np.testing.assert_array_equal(loaded.dense, head.dense)
    np.testing.assert_allclose(
        loaded.decision(texts, embedder), head.decision(texts, embedder), rtol=1e-6
    )
    labels_again, _ = static_heads.predict(tmp_path / "static" / "irony", texts)
    assert labels_again == predicted


def test_the_scale_is_chosen_on_training_rows(embedder: StaticEmbedder) -> None:
    texts, labels = flags(120)
    head = static_heads.train_head("irony", texts, labels, embedder, vectorizer=VECTORIZER)
    grid = head.hashed.info["search"]["grid"]
    assert {row["scale"] for row in grid} == set(static_heads.SCALE_GRID)
    best = max(grid, key=lambda row: row["cv_biased"])  # the first best, in grid order
    assert head.scale == best["scale"]
    assert head.hashed.info["training"]["C"] == best["C"]
    assert head.hashed.info["nb_weighting"] == best["nb"]


def test_another_static_model_is_refused(embedder: StaticEmbedder, tmp_path: Path) -> None:
    save_static_head(embedder, tmp_path)
    other = StaticEmbedder(tiny_model(tmp_path / "other", seed=1))
    with pytest.raises(BundleError, match="weights_sha256"):
        static_heads.predict(tmp_path / "static" / "irony", ["love"], embedder=other)


def test_hashed_loader_refuses_a_static_bundle(embedder: StaticEmbedder, tmp_path: Path) -> None:
    save_static_head(embedder, tmp_path)
    with pytest.raises(BundleError, match="fairdesk-triage-static/1"):
        bundle.load(tmp_path / "static" / "irony")


def test_truncated_dense_weights_are_refused(embedder: StaticEmbedder, tmp_path: Path) -> None:
    save_static_head(embedder, tmp_path)
    path = tmp_path / "static" / "irony"
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    meta["static"]["dim"] = embedder.dim + 1
    (path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(BundleError, match="dense weights"):
        static_heads.load(path)


# --- in the pipeline -----------------------------------------------------------------------


def test_pipeline_uses_a_static_head_only_where_it_scored_better(
    embedder: StaticEmbedder, tmp_path: Path
) -> None:
    head = save_static_head(embedder, tmp_path, score=60.0)
    save_plain_head(tmp_path, score=50.0)
    heads = load_heads(tmp_path)
    assert heads is not None and heads.static_tasks == ("irony",)
    texts = [f"{random.Random(i).choice(POS + NEG)} the app" for i in range(20)]
    flagged = [out.irony for out in heads.outputs(texts)]
    assert flagged == [label == "1" for label in head.predict(texts, embedder)]
    assert heads.describe()["bundles"][0]["score"] == 60.0
    plan = planned_tiers(tmp_path, best_by_task(tmp_path))
    assert [(b["task"], b["tier"], b["score"]) for b in plan["bundles"]] == [
        ("irony", "static", 60.0)
    ]

    save_plain_head(tmp_path, score=70.0)  # the plain head now scores better
    heads = load_heads(tmp_path)
    assert heads is not None and heads.static_tasks == ()
    plan = planned_tiers(tmp_path, best_by_task(tmp_path))
    assert [(b["tier"], b["score"]) for b in plan["bundles"]] == [("fast", 70.0)]


def test_without_the_static_model_everything_runs_as_before(
    embedder: StaticEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_static_head(embedder, tmp_path, score=60.0)
    save_plain_head(tmp_path, score=50.0)
    for name in static.REQUIRED_FILES:
        (tmp_path / "static" / name).unlink()
    with caplog.at_level(logging.WARNING):
        heads = load_heads(tmp_path)
    assert heads is not None and heads.static_tasks == ()
    assert "static triage heads found but not used" in caplog.text
    plain = load_heads(tmp_path, static=False)
    assert plain is not None
    texts = ["love the app", "awful support", ""]
    assert heads.outputs(texts) == plain.outputs(texts)
    assert planned_tiers(tmp_path, best_by_task(tmp_path))["bundles"][0]["tier"] == "fast"


def test_pipeline_skips_a_head_of_another_static_model(
    embedder: StaticEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other_dir = tmp_path / "elsewhere"
    other = StaticEmbedder(tiny_model(other_dir / "static", seed=3))
    save_static_head(other, tmp_path, score=60.0)  # trained with another static model
    save_plain_head(tmp_path, score=50.0)
    with caplog.at_level(logging.WARNING):
        heads = load_heads(tmp_path)
    assert heads is not None and heads.static_tasks == ()
    assert "not using static triage bundle" in caplog.text and "weights_sha256" in caplog.text


def test_bad_input_through_the_static_heads(embedder: StaticEmbedder, tmp_path: Path) -> None:
    save_static_head(embedder, tmp_path, task="irony")
    heads = load_heads(tmp_path)
    assert heads is not None and heads.static_tasks == ("irony",)
    results = FastTriage(heads=heads).classify([*BAD_INPUT, None, 42])  # type: ignore[list-item]
    assert len(results) == len(BAD_INPUT) + 2
    assert [r is UNREADABLE for r in results] == [False] * len(results)
    assert all(r.sentiment in SENTIMENTS for r in results)


# --- the command and the distillation ------------------------------------------------------


def test_train_eval_bench_static_commands(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DATA_DIR = tmp_path
    texts, labels = flags(60)
    data = tmp_path / "flags.csv"
    data.write_text(
        "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in zip(texts, labels, strict=True)),
        encoding="utf-8",
    )
    common = ["--task", "irony", "--format", "csv", "--data", str(data), "--tier", "static"]
    with pytest.raises(CommandError, match="triage distill"):
        call_command("triage", "train", *common)
    tiny_model(tmp_path / "triage" / "static")
    call_command("triage", "train", *common, "--json")
    trained = json.loads(capsys.readouterr().out)
    assert trained["bundle"] == str(tmp_path / "triage" / "static" / "irony")
    call_command("triage", "eval", *common, "--carved", "--json")
    scored = json.loads(capsys.readouterr().out)
    assert scored["score"] == trained["validation"]["score"] and scored["n"] == 6
    call_command("triage", "train", *common[:-2], "--json")  # the plain head, for the bench
    capsys.readouterr()
    call_command(
        "triage", "bench", "--texts", "30", "--repeats", "1", "--synthetic", "--json",
        "--bundle", str(tmp_path / "triage" / "irony"),
        "--bundle", str(tmp_path / "triage" / "static" / "irony"),
    )  # fmt: skip
    bench = json.loads(capsys.readouterr().out)
    assert bench["static"]["tasks"] == ["irony"] and bench["texts"] == 30
    assert {"irony", "static irony", "static embedding"} <= set(bench["heads"])


@pytest.mark.skipif(not deep.available(), reason="needs the deep extra (torch, MiniLM)")
def test_distil_a_slice_of_the_minilm_vocabulary(tmp_path: Path) -> None:
    words = ["the", "of", "app", "love", "hate", "thanks", "broken", "support", "order"]
    tokens = ["[UNK]", "[CLS]", "[SEP]", *words, "not-a-token"]
    result = static.distill(tmp_path, tokens=tokens, pca_dims=8)
    assert result["vocabulary"] == len(tokens) - 1 and result["dim"] == 8
    notice = (tmp_path / static.NOTICE_FILE).read_text(encoding="utf-8")
    assert "Apache License, Version 2.0" in notice and "all-MiniLM-L6-v2" in notice
    if static.apache_licence_text() is not None:
        assert "Apache License" in (tmp_path / static.LICENCE_FILE).read_text(encoding="utf-8")
    embedder = StaticEmbedder(tmp_path)
    x = embedder.embed(["the", "of the APP", "zebra xylophone", ""])
    assert np.allclose(np.linalg.norm(x[:2], axis=1), 1, atol=1e-3)
    assert not x[2].any() and not x[3].any() and np.isfinite(x).all()
    assert embedder.describe()["weights_sha256"] == result["weights_sha256"]
