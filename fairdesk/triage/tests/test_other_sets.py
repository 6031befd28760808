"""The other shared sets: complaints, iSarcasmEval and the US airline tweets — their
readers (on tiny files written here, never the shared data), their metrics (worked out by
hand), the rules' zero-shot heads, cross-validation, and the command on a tiny file."""

import json
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairdesk.triage import datasets, evaluate, metrics
from fairdesk.triage.datasets import Dataset, DatasetError


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# --- readers -----------------------------------------------------------------------------


def test_complaints_reader(tmp_path: Path) -> None:
    path = write(
        tmp_path / "complaints.csv",
        '1,"@Help my order, again, is late",1,retail\r\n'
        "2,thanks for the quick reply,0,food\r\n"
        '3,"=HYPERLINK(""x"") <script>alert(1)</script>",0,random_tweet\r\n',
    )
    data = datasets.load("complaints", data=path)
    assert data.texts == [
        "@Help my order, again, is late",
        "thanks for the quick reply",
        '=HYPERLINK("x") <script>alert(1)</script>',
    ]
    assert data.labels == ["1", "0", "0"]
    assert data.source == str(path)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("tweet_id,text,label,domain\n1,hi,0,food\n", r"complaints.csv:1: .*no header"),
        ("1,hi,0,food\n2,three fields,1\n", r"complaints.csv:2: expected 4 fields .* found 3"),
        ("1,hi,0,food\n2,bad label,yes,food\n", r"complaints.csv:2: label must be 0 or 1"),
        ("", r"complaints.csv: no rows"),
    ],
)
def test_complaints_reader_errors(tmp_path: Path, content: str, error: str) -> None:
    path = write(tmp_path / "complaints.csv", content)
    with pytest.raises(DatasetError, match=error):
        datasets.read_complaints(path)


def test_isarcasmeval_train_and_test_headers(tmp_path: Path) -> None:
    train = write(
        tmp_path / "train.En.csv",
        ",tweet,sarcastic,rephrase,sarcasm\n"
        '0,"I just love Mondays, really",1,"I hate Mondays",1\n'
        "1,,0,,0\n"  # a row with no tweet, as train.En.csv has one: skipped
        "2,Lunch was fine,0,,0\n",
    )
    data = datasets.load("isarcasmeval", data=train)
    assert data.texts == ["I just love Mondays, really", "Lunch was fine"]
    assert data.labels == ["1", "0"]
    test = write(
        tmp_path / "task_A_En_test.csv",
        'text,sarcastic\n"Great, a second line\nin the same tweet",1\nplain,0\n',
    )
    data = datasets.load("isarcasmeval", data=test)
    assert data.texts == ["Great, a second line\nin the same tweet", "plain"]
    assert data.labels == ["1", "0"]


def test_isarcasmeval_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "body,sarcastic\nx,1\n")
    with pytest.raises(DatasetError, match=r"expected a text column .* \(found: body, sarcastic\)"):
        datasets.read_isarcasmeval(path)
    path = write(tmp_path / "b.csv", "text,sarcastic\nx,2\n")
    with pytest.raises(DatasetError, match=r"b.csv:2: sarcastic must be 0 or 1, not '2'"):
        datasets.read_isarcasmeval(path)
    path = write(tmp_path / "c.csv", "text,sarcastic\nx,1,extra\n")
    with pytest.raises(DatasetError, match=r"c.csv:2: 3 fields but the header has 2"):
        datasets.read_isarcasmeval(path)
    path = write(tmp_path / "d.csv", "text,sarcastic\n ,1\n")
    with pytest.raises(DatasetError, match=r"d.csv: no row has text"):
        datasets.read_isarcasmeval(path)
    path = write(tmp_path / "e.csv", 'text,sarcastic\n"never closed,1\n')
    with pytest.raises(DatasetError, match=r"e.csv"):
        datasets.read_isarcasmeval(path)


def test_airline_maps_to_tweeteval_ids_and_drops_repeated_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path / "Tweets.csv",
        "tweet_id,airline_sentiment,negativereason,airline,text,tweet_created\n"
        "10,negative,Late Flight,United,@united late again,2/24/2015 11:35\n"
        "11,neutral,,Delta,@delta what time?,2/24/2015 11:36\n"
        '12,Positive,,Delta,"@delta thanks, great crew",2/24/2015 11:37\n'
        "10,positive,,United,@united late again (repeat),2/24/2015 11:38\n",
    )
    data = datasets.load("airline", data=path)
    assert data.labels == ["0", "1", "2"]
    assert data.texts == ["@united late again", "@delta what time?", "@delta thanks, great crew"]


def test_airline_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "tweet_id,text\n1,hi\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) airline_sentiment"):
        datasets.read_airline(path)
    path = write(tmp_path / "u.csv", "text,airline_sentiment\nhi,angry\n")
    with pytest.raises(DatasetError, match=r"u.csv:2: airline_sentiment must be"):
        datasets.read_airline(path)
    with pytest.raises(DatasetError, match=r"format airline needs a data file"):
        datasets.load("airline")
    with pytest.raises(DatasetError, match="no such file"):
        datasets.load("complaints", data=tmp_path / "missing.csv")


# --- metrics -----------------------------------------------------------------------------


def test_f1_sarcastic_by_hand() -> None:
    gold = ["1", "1", "1", "0", "0", "0", "0", "0"]
    pred = ["1", "1", "0", "1", "1", "0", "0", "0"]
    # class 1: tp 2, fp 2, fn 1 -> P 2/4, R 2/3, F1 = 2PR/(P+R) = 4/7
    score = metrics.score("sarcasm", gold, pred)
    assert score.metric == "f1_sarcastic"
    assert score.score_percent == pytest.approx(100 * 4 / 7)
    assert score.accuracy_percent is None and "accuracy" not in score.as_dict()


def test_complaint_macro_f1_and_accuracy_by_hand() -> None:
    gold = ["1", "1", "0", "0", "0"]
    pred = ["1", "0", "0", "0", "1"]
    # class 1: tp 1, fp 1, fn 1 -> F1 1/2; class 0: tp 2, fp 1, fn 1 -> F1 2/3
    score = metrics.score("complaint", gold, pred)
    assert score.metric == "macro_f1"
    assert score.score_percent == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
    assert score.as_dict()["accuracy"] == 60.0
    assert metrics.accuracy_percent(gold, pred) == 60.0


def test_airline_is_scored_as_tweeteval_sentiment() -> None:
    gold = ["0", "0", "0", "0", "1", "1", "2", "2"]
    pred = ["0", "0", "0", "1", "1", "0", "2", "1"]
    # recall: negative 3/4, neutral 1/2, positive 1/2 -> macro 7/12
    score = metrics.score("sentiment", gold, pred)
    assert score.metric == "macro_recall"
    assert score.score_percent == pytest.approx(100 * 7 / 12)


# --- rules, zero-shot bundles, cross-validation -----------------------------------------


def test_rules_zero_shot_heads() -> None:
    gold = Dataset(
        texts=[
            "My card was charged twice and the app is broken",
            "Thank you, the crew were wonderful!",
        ],
        labels=["1", "0"],
        source="inline",
    )
    assert evaluate.rules_predict("complaint", gold.texts) == ["1", "0"]
    assert evaluate.rules_predict("sentiment", gold.texts)[1] == "2"
    assert evaluate.evaluate("complaint", gold, rules=True).score_percent == 100.0
    with pytest.raises(ValueError, match="no head for task 'irony'"):
        evaluate.rules_predict("irony", gold.texts)


def _irony_bundle(tmp_path: Path) -> Path:
    from fairdesk.triage.training import train_bundle

    texts = [f"oh great, another delay number {i}, just what I wanted" for i in range(12)]
    texts += [f"the flight number {i} left on time today" for i in range(12)]
    data = Dataset(texts=texts, labels=["1"] * 12 + ["0"] * 12, source="inline")
    out = tmp_path / "irony"
    train_bundle("irony", data, out, validation=data)
    return out


def test_an_irony_bundle_scores_sarcasm_zero_shot_but_no_other_task(tmp_path: Path) -> None:
    out = _irony_bundle(tmp_path)
    gold = Dataset(
        texts=["oh great, another delay, just what I wanted", "the flight left on time"],
        labels=["1", "0"],
        source="inline",
    )
    score = evaluate.evaluate("sarcasm", gold, bundle_dir=out)
    assert score.metric == "f1_sarcastic" and score.score_percent == 100.0
    with pytest.raises(ValueError, match="trained for task 'irony', not 'hate'"):
        evaluate.evaluate("hate", gold, bundle_dir=out)


def complaint_like(n: int) -> Dataset:
    texts, labels = [], []
    for i in range(n):
        if i % 3 == 0:
            texts.append(f"order {i} never arrived, still waiting, refund please")
            labels.append("1")
        else:
            texts.append(f"lovely day {i} at the beach with friends")
            labels.append("0")
    return Dataset(texts=texts, labels=labels, source="inline")


def test_folds_are_stratified_and_cover_every_row_once() -> None:
    data = complaint_like(30)
    folds = evaluate.folds_of(data.labels, 5)
    assert sorted(i for fold in folds for i in fold) == list(range(30))
    assert all(sum(data.labels[i] == "1" for i in fold) == 2 for fold in folds)
    assert folds == evaluate.folds_of(data.labels, 5)  # seed 0: reproducible
    with pytest.raises(ValueError, match="at least 2 folds"):
        evaluate.folds_of(data.labels, 1)
    with pytest.raises(ValueError, match=r"label '1' has 10 rows, fewer than the 11 folds"):
        evaluate.folds_of(data.labels, 11)


def test_fast_cross_validation_learns_a_separable_set() -> None:
    result = evaluate.cross_validate("complaint", complaint_like(30), folds=3)
    assert result["metric"] == "macro_f1" and result["n"] == 30 and result["folds"] == 3
    assert result["score"]["mean"] == 100.0 and result["accuracy"]["mean"] == 100.0
    assert result["pooled"] == {"score": 100.0, "accuracy": 100.0}


class _KeywordEncoder:
    """Stands in for the sentence encoder: one dimension says whether a complaint word is
    there, the rest is seeded noise; no torch needed."""

    dim = 8

    def encode(self, texts: Any) -> np.ndarray:
        rng = np.random.default_rng(0)
        x = rng.normal(scale=0.05, size=(len(texts), self.dim)).astype(np.float32)
        x[:, 0] = [1.0 if "refund" in t else -1.0 for t in texts]
        return x


def test_deep_cross_validation_encodes_once_and_fits_per_fold() -> None:
    calls: list[int] = []
    encoder = _KeywordEncoder()
    original = encoder.encode

    def counting(texts: Any) -> np.ndarray:
        calls.append(len(texts))
        return original(texts)

    encoder.encode = counting  # type: ignore[method-assign]
    result = evaluate.cross_validate("complaint", complaint_like(60), folds=4, tier="deep",
                                     encoder=encoder)  # fmt: skip
    assert calls == [60]
    assert result["tier"] == "deep" and result["score"]["mean"] == 100.0
    with pytest.raises(ValueError, match="unknown tier 'slow'"):
        evaluate.cross_validate("complaint", complaint_like(30), folds=3, tier="slow")


# --- the command -------------------------------------------------------------------------


def _call(*args: str) -> dict[str, Any]:
    from django.core.management import call_command

    out = StringIO()
    call_command("triage", *args, "--json", stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_command_on_tiny_files(tmp_path: Path, settings: Any) -> None:
    from django.core.management import CommandError

    settings.DATA_DIR = tmp_path
    complaints = tmp_path / "complaints.csv"
    data = complaint_like(30)
    lines = [f'{i},"{t}",{lab},retail\n' for i, (t, lab) in enumerate(zip(data.texts,
             data.labels, strict=True))]  # fmt: skip
    write(complaints, "".join(lines))
    common = ["--task", "complaint", "--format", "complaints", "--data", str(complaints)]
    cv = _call("cv", *common, "--folds", "3")
    assert cv["folds"] == 3 and cv["n"] == 30 and cv["score"]["mean"] == 100.0
    from django.core.management import call_command

    out = StringIO()
    call_command("triage", "cv", *common, "--folds", "3", stdout=out)
    assert out.getvalue().startswith("complaint (fast, 3-fold): macro_f1 100.0 ± 0.0, accuracy")
    with pytest.raises(CommandError, match="at least 2 folds"):
        _call("cv", *common, "--folds", "1")
    rules = _call("eval", *common, "--rules")
    assert rules["metric"] == "macro_f1" and rules["n"] == 30 and "accuracy" in rules
    sample = _call("eval", *common, "--rules", "--max-rows", "12")
    assert sample["n"] == 12
    assert _call("eval", *common, "--rules", "--max-rows", "12") == sample  # seed 0
    with pytest.raises(CommandError, match="--max-rows must be at least 2"):
        _call("eval", *common, "--rules", "--max-rows", "1")

    sarcasm = write(
        tmp_path / "train.En.csv",
        ",tweet,sarcastic\n"
        + "".join(f"{i},oh great another delay {i} just what I wanted,1\n" for i in range(10))
        + "".join(f"{i + 10},the flight {i} left on time,0\n" for i in range(10)),
    )
    trained = _call("train", "--task", "sarcasm", "--format", "isarcasmeval", "--data",
                    str(sarcasm), "--val-data", str(sarcasm))  # fmt: skip
    assert trained["bundle"] == str(tmp_path / "triage" / "sarcasm")
    assert trained["validation"]["metric"] == "f1_sarcastic"
    scored = _call("eval", "--task", "sarcasm", "--format", "isarcasmeval", "--data", str(sarcasm))
    assert scored["score"] == trained["validation"]["score"] and scored["n"] == 20

    with pytest.raises(CommandError, match="--rules scores the rules alone"):
        _call("eval", *common, "--rules", "--bundle", str(tmp_path))
    with pytest.raises(CommandError, match=r"complaints.csv:1: .*no header"):
        write(complaints, "tweet_id,text,label,domain\n")
        _call("cv", *common)
