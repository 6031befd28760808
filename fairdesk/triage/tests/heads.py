"""Small trained heads for tests: synthetic sentiment/flag data and the Banking77 sample."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from fairdesk.triage import bundle, hashed
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.tests.synthetic import FILLER, NEG, POS, synthetic

SAMPLE = Path(__file__).parent / "data" / "banking77-sample.csv"
NEUTRAL = ["maybe", "tuesday", "address", "update", "question", "schedule"]


def banking_sample() -> tuple[list[str], list[str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def three_way(n: int = 300, seed: int = 0) -> tuple[list[str], list[str]]:
    """TweetEval sentiment ids: 0 negative, 1 neutral, 2 positive."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = str(i % 3)
        cue = rng.choice((NEG, NEUTRAL, POS)[i % 3])
        words = [cue, *rng.sample(FILLER, 4)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def train_heads() -> dict[str, HashedLinearModel]:
    """sentiment, offensive (1 = "hate"-word texts), irony and banking77 heads."""
    flags = synthetic(200)
    return {
        "sentiment": hashed.train(*three_way()),
        "offensive": hashed.train(flags[0], [str(1 - int(label)) for label in flags[1]]),
        "irony": hashed.train(*flags),
        "banking77": hashed.train(*banking_sample()),
    }


def save_heads(models: dict[str, HashedLinearModel], directory: Path) -> None:
    for task, model in models.items():
        bundle.save(model, directory / task, task=task, validation={"score": 50.0})
