import pytest

from fairdesk.triage.metrics import score


def test_sentiment_is_macro_recall_with_a_class_never_predicted() -> None:
    gold = ["0", "0", "1", "1", "2", "2"]
    pred = ["0", "1", "1", "1", "0", "0"]
    # recall(0) = 1/2, recall(1) = 2/2, recall(2) = 0/2 (never predicted)
    # macro recall = (0.5 + 1 + 0) / 3 = 0.5
    s = score("sentiment", gold, pred)
    assert (s.metric, s.n) == ("macro_recall", 6)
    assert s.score_percent == pytest.approx(50.0)


def test_emotion_hate_offensive_are_macro_f1() -> None:
    gold = ["0", "0", "1", "1", "2", "2"]
    pred = ["0", "1", "1", "1", "0", "0"]
    # class 0: P = 1/3, R = 1/2, F1 = 2*(1/6)/(5/6) = 0.4
    # class 1: P = 2/3, R = 1,   F1 = 2*(2/3)/(5/3) = 0.8
    # class 2: never predicted, F1 = 0
    # macro F1 = (0.4 + 0.8 + 0) / 3 = 0.4
    for task in ("emotion", "hate", "offensive"):
        s = score(task, gold, pred)
        assert s.metric == "macro_f1"
        assert s.score_percent == pytest.approx(40.0)


def test_macro_average_includes_labels_only_predicted() -> None:
    # labels {0, 1, 2}: F1(0) = 1, F1(1) = 0 (never predicted), F1(2) = 0 (never gold)
    # macro F1 = 1/3
    s = score("offensive", ["0", "0", "1"], ["0", "0", "2"])
    assert s.score_percent == pytest.approx(100 / 3)


def test_irony_is_f1_of_the_ironic_class() -> None:
    gold = [1, 1, 1, 0, 0]
    pred = [1, 0, 1, 1, 0]
    # class 1: TP = 2, FP = 1, FN = 1 -> P = R = 2/3 -> F1 = 2/3
    s = score("irony", gold, pred)
    assert s.metric == "f1_irony"
    assert s.score_percent == pytest.approx(200 / 3)
    assert s.as_dict() == {"task": "irony", "metric": "f1_irony", "score": 66.67, "n": 5}


def test_stance_is_mean_f1_of_against_and_favor() -> None:
    gold = ["0", "1", "1", "2", "2", "0"]
    pred = ["0", "1", "2", "2", "2", "1"]
    # against (1): TP = 1, predicted 2, gold 2 -> P = R = 1/2 -> F1 = 0.5
    # favor (2):   TP = 2, predicted 3, gold 2 -> P = 2/3, R = 1 -> F1 = 0.8
    # (0.5 + 0.8) / 2 = 0.65; the neutral class (0) does not count
    assert score("stance", gold, pred).score_percent == pytest.approx(65.0)


def test_banking77_is_accuracy() -> None:
    # 3 of 4 right
    s = score("banking77", ["a", "b", "c", "d"], ["a", "b", "c", "a"])
    assert (s.metric, s.score_percent) == ("accuracy", pytest.approx(75.0))


def test_length_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="3 gold labels but 2 predictions"):
        score("hate", ["0", "1", "0"], ["0", "1"])


def test_empty_and_missing_positive_class_are_errors() -> None:
    with pytest.raises(ValueError, match="nothing to score"):
        score("hate", [], [])
    with pytest.raises(ValueError, match="label '1'"):
        score("irony", ["0", "0"], ["0", "0"])
