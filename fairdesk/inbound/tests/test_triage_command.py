import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from fairdesk.triage.tests.synthetic import synthetic


def run(*args: str) -> dict[str, object]:
    out = StringIO()
    call_command("triage", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def write_tweeteval(path: Path, texts: list[str], labels: list[str]) -> tuple[Path, Path]:
    path.mkdir(parents=True, exist_ok=True)
    (path / "text.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (path / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return path / "text.txt", path / "labels.txt"


def test_train_then_eval_then_score_predictions(tmp_path: Path) -> None:
    text, labels = write_tweeteval(tmp_path / "train", *synthetic(200))
    bundle = tmp_path / "bundle"
    trained = run(
        "train", "--task", "irony", "--format", "tweeteval",
        "--text", str(text), "--labels", str(labels), "--out", str(bundle),
    )  # fmt: skip
    assert (bundle / "model.json").exists() and (bundle / "weights.npz").exists()
    assert trained["train_examples"] == 180

    val_text, val_labels = write_tweeteval(tmp_path / "val", *synthetic(60, seed=3))
    result = run(
        "eval", "--task", "irony", "--format", "tweeteval", "--text", str(val_text),
        "--labels", str(val_labels), "--bundle", str(bundle), "--tier", "fast",
    )  # fmt: skip
    assert set(result) == {"task", "metric", "score", "n"}
    assert result["task"] == "irony" and result["metric"] == "f1_irony" and result["n"] == 60
    assert isinstance(result["score"], float) and result["score"] > 90

    # gold 1,1,1,0,0 vs predicted 1,0,1,1,0: F1 of class 1 = 2/3
    gold_text, gold_labels = write_tweeteval(tmp_path / "gold", list("abcde"), list("11100"))
    predictions = tmp_path / "pred.txt"
    predictions.write_text("1\n0\n1\n1\n0\n", encoding="utf-8")
    scored = run(
        "eval", "--task", "irony", "--format", "tweeteval", "--text", str(gold_text),
        "--labels", str(gold_labels), "--predictions", str(predictions),
    )  # fmt: skip
    assert scored == {"task": "irony", "metric": "f1_irony", "score": 66.67, "n": 5}


def test_banking77_csv_default_bundle_dir(tmp_path: Path, settings: Any) -> None:
    settings.DATA_DIR = tmp_path / "data"
    texts, labels = synthetic(200)
    names = ["card_arrival", "top_up"]
    (tmp_path / "categories.json").write_text(json.dumps(names), encoding="utf-8")
    rows = "".join(f"{t},{names[int(label)]}\n" for t, label in zip(texts, labels, strict=True))
    data = tmp_path / "train.csv"
    data.write_text("text,category\n" + rows, encoding="utf-8")
    run("train", "--task", "banking77", "--format", "banking77", "--data", str(data))
    assert (tmp_path / "data" / "triage" / "banking77" / "model.json").exists()
    result = run("eval", "--task", "banking77", "--format", "banking77", "--data", str(data))
    assert result["metric"] == "accuracy" and result["n"] == 200


def test_bad_input_is_a_command_error(tmp_path: Path) -> None:
    text, labels = write_tweeteval(tmp_path, ["a", "b"], ["0"])
    with pytest.raises(CommandError, match="2 lines but"):
        call_command(
            "triage", "eval", "--task", "hate", "--format", "tweeteval",
            "--text", str(text), "--labels", str(labels), "--predictions", str(labels),
        )  # fmt: skip
    predictions = tmp_path / "p.txt"
    predictions.write_text("0\n1\n1\n", encoding="utf-8")
    text, labels = write_tweeteval(tmp_path, ["a", "b"], ["0", "1"])
    with pytest.raises(CommandError, match="3 predictions but"):
        call_command(
            "triage", "eval", "--task", "hate", "--format", "tweeteval",
            "--text", str(text), "--labels", str(labels), "--predictions", str(predictions),
        )  # fmt: skip
    with pytest.raises(CommandError, match=r"no model\.json"):
        call_command(
            "triage", "eval", "--task", "hate", "--format", "tweeteval", "--text", str(text),
            "--labels", str(labels), "--bundle", str(tmp_path / "none"),
        )  # fmt: skip


def test_bench_json_shape(tmp_path: Path) -> None:
    text, labels = write_tweeteval(tmp_path / "train", *synthetic(200))
    bundle = tmp_path / "irony"
    run(
        "train", "--task", "irony", "--format", "tweeteval",
        "--text", str(text), "--labels", str(labels), "--out", str(bundle),
    )  # fmt: skip
    result = run(
        "bench", "--tier", "fast", "--texts", "300", "--synthetic", "--repeats", "1",
        "--bundle", str(bundle), "--baseline",
    )  # fmt: skip
    assert set(result) == {
        "tier", "texts", "seconds", "texts_per_s", "together", "heads", "baseline", "speedup"
    }  # fmt: skip
    assert result["tier"] == "fast" and result["texts"] == 300
    assert result["together"] == ["rules", "irony"]
    baseline = result["baseline"]
    assert isinstance(baseline, dict) and baseline["texts_per_s"] > 0
    assert isinstance(result["speedup"], float) and result["speedup"] > 0
    heads = result["heads"]
    assert isinstance(heads, dict) and set(heads) == {"rules", "irony"}
    for head in heads.values():
        assert {"seconds", "texts_per_s"} <= set(head)
        assert head["seconds"] >= 0 and head["texts_per_s"] > 0
    assert heads["irony"]["bundle"] == str(bundle)


def test_bench_rules_only_and_bad_bundle(tmp_path: Path) -> None:
    result = run("bench", "--texts", "200", "--synthetic", "--repeats", "1")
    heads = result["heads"]
    assert result["texts"] == 200 and isinstance(heads, dict) and set(heads) == {"rules"}
    assert result["together"] == ["rules"] and "baseline" not in result
    with pytest.raises(CommandError, match=r"no model\.json"):
        call_command("triage", "bench", "--texts", "10", "--bundle", str(tmp_path / "none"))


SAMPLE = Path(__file__).resolve().parents[2] / "triage" / "tests" / "data" / "banking77-sample.csv"


def test_ci_sample_trains_and_scores(tmp_path: Path) -> None:
    """CI: train a small bundle from the committed Banking77 sample (CC BY 4.0), evaluate
    it, and score a predictions file whose accuracy is known by hand."""
    bundle = tmp_path / "b77"
    data = ("--task", "banking77", "--format", "banking77", "--data", str(SAMPLE))
    trained = run("train", *data, "--out", str(bundle))
    assert trained["train_examples"] == 288  # 320 rows less the 10% carve-out (32)
    validation = trained["validation"]
    assert isinstance(validation, dict)
    assert (validation["metric"], validation["n"]) == ("accuracy", 32)
    carved = run("eval", *data, "--carved", "--bundle", str(bundle))
    assert carved == {k: validation[k] for k in ("task", "metric", "score", "n")}
    assert isinstance(carved["score"], float) and carved["score"] >= 50  # chance: 12.5%

    from fairdesk.triage.datasets import read_banking77
    from fairdesk.triage.training import split

    gold = split(read_banking77(SAMPLE))[1].labels
    wrong = {0, 5, 17}  # 3 of 32 wrong: accuracy 29/32 = 90.625%
    predicted = [("card_arrival" if g != "card_arrival" else "pin_blocked") if i in wrong else g
                 for i, g in enumerate(gold)]  # fmt: skip
    predictions = tmp_path / "predictions.txt"
    predictions.write_text("\n".join(predicted) + "\n", encoding="utf-8")
    scored = run("eval", *data, "--carved", "--predictions", str(predictions))
    assert scored == {"task": "banking77", "metric": "accuracy", "score": 90.62, "n": 32}
