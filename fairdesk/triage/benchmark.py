"""Throughput of the fast tier on one core: ``python -m fairdesk.triage.benchmark [N]``.

Reads real tweets from ``../shared/data`` (TweetEval sentiment val + US airline tweets).
Reports CPU time of this (single-threaded) process, so other load on a shared machine
does not distort the figure; best of three runs.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fairdesk.triage.duplicates import NearDuplicateIndex
from fairdesk.triage.fast import FastTriage
from fairdesk.triage.types import StaffMember

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def load_tweets() -> list[str]:
    tweeteval = DATA / "tweeteval" / "sentiment" / "val_text.txt"
    texts = tweeteval.read_text(encoding="utf-8").splitlines()
    with (DATA / "twitter-us-airline-sentiment" / "Tweets.csv").open(encoding="utf-8") as f:
        texts += [row["text"] for row in csv.DictReader(f)]
    return texts


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def _cpu_seconds(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def _index_all(texts: list[str]) -> None:
    index = NearDuplicateIndex()
    for i, text in enumerate(texts):
        index.add(str(i), text)


def main(limit: int = 10_000) -> None:
    texts = load_tweets()[:limit]
    staff = [StaffMember(str(i), n) for i, n in enumerate(["Maria Lopez", "Dana Kim", "Jo Chen"])]
    triage = FastTriage(staff)
    triage.classify(texts[:50])  # load the VADER lexicon outside the timing
    classify_s = min(_cpu_seconds(lambda: triage.classify(texts)) for _ in range(3))
    dedupe_s = min(_cpu_seconds(lambda: _index_all(texts)) for _ in range(3))
    print(f"classify: {len(texts)} texts, {rate(len(texts), classify_s):,.0f} texts/s")
    print(f"near-duplicate add: {rate(len(texts), dedupe_s):,.0f} texts/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
