"""A tiny labelled dataset for training tests (a few hundred lines, trains in well under 1 s)."""

import random

POS = ["love", "great", "thanks", "awesome", "perfect", "brilliant"]
NEG = ["hate", "broken", "awful", "refund", "worst", "useless"]
FILLER = ["the", "app", "order", "today", "support", "my", "phone", "again", "is"]


def synthetic(n: int = 200, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = "1" if i % 2 else "0"
        words = [rng.choice(POS if label == "1" else NEG), *rng.sample(FILLER, 4)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels
