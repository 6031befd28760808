"""Throughput of the fast tier: ``fairdesk triage bench`` (or ``-m fairdesk.triage.benchmark``).

Reads real tweets from ``../shared/data`` (TweetEval sentiment val + US airline tweets) when
that directory is present, else a built-in synthetic list. Reports the CPU time of this
process (best of ``repeats`` runs), so other load on a shared machine does not distort the
figure, for:

- the top level: every head together, as the pipeline runs them: one
  ``FastTriage.classify`` call with the rules and every given bundle of a task the fast
  tier uses (one shared featurisation; the sentiment bundle replaces VADER);
- ``heads``: each head alone (the rules tier, and each bundle's own ``predict``);
- ``baseline`` (optional): the path before shared featurisation, in the same run, for the
  ratio: the rules text by text, then each bundle featurised by scikit-learn on its own.
- ``static`` (when static head bundles are among the bundles, ``static_heads.py``): the
  static embedding alone, and every head together with the plain bundles only (before)
  against the top level, where each static head takes its task (after), in the same run.
"""

from __future__ import annotations

import csv
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fairdesk.triage import bundle
from fairdesk.triage.duplicates import NearDuplicateIndex
from fairdesk.triage.fast import FastTriage
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.trained import TASK_LABELS, TrainedHeads
from fairdesk.triage.types import StaffMember

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STAFF = [StaffMember(str(i), n) for i, n in enumerate(["Maria Lopez", "Dana Kim", "Jo Chen"])]

_OPENERS = ["@user", "hey @acme", "ugh", "so", "honestly", "thanks @acme", "why does", ""]
_BODIES = [
    "my card payment failed twice today",
    "the app keeps crashing when I log in",
    "love the new update, Dana Kim was brilliant",
    "still waiting for my refund after three weeks",
    "is the service down? nothing loads",
    "great support from Maria, sorted in minutes",
    "someone hacked my account, please help",
    "worst experience ever, I'm telling everyone to avoid you",
    "how do I change my delivery address",
    "win a free iPhone!!! click here http://spam.example",
]
_CLOSERS = ["", "!!", "😡", "🙏", "#fail", "#thanks", "...", "lol"]


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` made-up support tweets (used when the shared data is absent)."""
    rng = random.Random(seed)
    return [
        " ".join(p for p in (rng.choice(_OPENERS), rng.choice(_BODIES), rng.choice(_CLOSERS)) if p)
        for _ in range(n)
    ]


def load_tweets(data: Path = DATA) -> list[str]:
    tweeteval = data / "tweeteval" / "sentiment" / "val_text.txt"
    texts = tweeteval.read_text(encoding="utf-8").splitlines()
    with (data / "twitter-us-airline-sentiment" / "Tweets.csv").open(encoding="utf-8") as f:
        texts += [row["text"] for row in csv.DictReader(f)]
    return texts


def bench_texts(n: int, *, synthetic: bool = False, data: Path = DATA) -> tuple[list[str], str]:
    """``n`` texts to time and where they came from (real tweets, cycled, when present)."""
    texts: list[str] = []
    source = "synthetic"
    if not synthetic:
        try:
            texts = load_tweets(data)
            source = str(data)
        except OSError:
            texts = []
    if not texts:
        texts, source = synthetic_texts(min(n, 5_000)), "synthetic"
    return [texts[i % len(texts)] for i in range(n)], source


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def _cpu_seconds(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def _best(work: Callable[[], object], repeats: int) -> float:
    return min(_cpu_seconds(work) for _ in range(max(1, repeats)))


def _head(seconds: float, count: int, **extra: Any) -> dict[str, Any]:
    return {**extra, "seconds": round(seconds, 4), "texts_per_s": round(rate(count, seconds))}


def bench(
    texts: Sequence[str],
    *,
    tier: str = "fast",
    bundles: Sequence[Path | str] = (),
    repeats: int = 3,
    baseline: bool = False,
    encoder: Any = None,
) -> dict[str, Any]:
    """Time every head together, and each head alone, on ``texts`` (one batch per run).
    ``tier="deep"``: see :func:`bench_deep` (``encoder``: a ``deep.DeepEncoder``)."""
    if tier == "deep":
        return bench_deep(texts, encoder=encoder, bundles=bundles, repeats=repeats)
    if tier not in ("fast", "static"):  # static heads are fast-tier heads: both the same
        raise ValueError(f"unknown tier {tier!r}; expected 'fast', 'static' or 'deep'")
    texts = list(texts)
    from fairdesk.triage import static_heads

    static_paths = [p for p in bundles if _is_static(p)]
    loaded = [(str(path), *bundle.load(path)) for path in bundles if path not in static_paths]
    statics = [(str(path), *static_heads.load(path)) for path in static_paths]
    rules = FastTriage(STAFF)
    rules.classify(texts[:50])  # load the VADER lexicon outside the timing
    heads = {"rules": _head(_best(lambda: rules.classify(texts), repeats), len(texts))}
    for path, model, meta in loaded:
        name = str(meta.get("task") or Path(path).name)
        model.predict(texts[:50])
        seconds = _best(lambda m=model: m.predict(texts), repeats)  # type: ignore[misc]
        heads[name if name not in heads else f"{name}:{path}"] = _head(
            seconds, len(texts), bundle=path
        )
    used = {meta["task"]: model for _, model, meta in loaded if meta.get("task") in TASK_LABELS}
    part, plain_used = None, dict(used)
    if statics:
        embedder = static_heads.embedder_for(statics[0][0], statics[0][2])
        dense = {}
        for path, head, meta in statics:
            static_heads.check_static(meta, embedder, path)
            head.predict(texts[:50], embedder)
            seconds = _best(lambda h=head: h.predict(texts, embedder), repeats)  # type: ignore[misc]
            heads[f"static {meta['task']}"] = _head(seconds, len(texts), bundle=path)
            if meta.get("task") in TASK_LABELS:
                used[meta["task"]], dense[meta["task"]] = head.hashed, head.dense
        heads["static embedding"] = _head(
            _best(lambda: embedder.embed(texts), repeats), len(texts), dim=embedder.dim
        )
        part = static_heads.StaticPart(embedder, dense)
    together = FastTriage(STAFF, heads=TrainedHeads(used, static=part) if used else None)
    together.classify(texts[:50])
    seconds = _best(lambda: together.classify(texts), repeats)
    result: dict[str, Any] = {
        "tier": tier,
        "texts": len(texts),
        "seconds": round(seconds, 4),
        "texts_per_s": round(rate(len(texts), seconds)),
        "together": ["rules", *sorted(used)],
        "heads": heads,
    }
    if part is not None:
        plain = FastTriage(STAFF, heads=TrainedHeads(plain_used) if plain_used else None)
        plain.classify(texts[:50])
        before = _best(lambda: plain.classify(texts), repeats)
        result["static"] = {
            "tasks": sorted(part.dense),
            "plain_only": _head(before, len(texts), together=["rules", *sorted(plain_used)]),
            "ratio": round(before / seconds, 3) if seconds else None,
        }
    if baseline:
        models = [model for _, model, _ in loaded]
        before = _best(lambda: _before(rules, models, texts), repeats)
        result["baseline"] = _head(before, len(texts))
        result["speedup"] = round(before / seconds, 2) if seconds else None
    return result


def bench_deep(
    texts: Sequence[str],
    *,
    encoder: Any = None,
    bundles: Sequence[Path | str] = (),
    repeats: int = 3,
) -> dict[str, Any]:
    """The deep tier's texts/s: tokenisation alone, and encoding with tokenisation plus every
    given deep head (one encoding for all). Wall-clock time, best of ``repeats``: the
    encoder uses every core (or the GPU), which CPU time of one thread would not show."""
    from fairdesk.triage import deep, deep_heads

    texts = list(texts)
    encoder = encoder or deep.DeepEncoder()
    heads = [deep_heads.load(path)[0] for path in bundles]
    encoder.encode(texts[:64])  # first-call costs (thread pools, kernels) outside the timing

    def together() -> None:
        x = encoder.encode(texts)
        for head in heads:
            head.labels_of(head.decision(x))

    tokenize = _best_wall(lambda: encoder.tokenize(texts), repeats)
    seconds = _best_wall(together, repeats)
    return {
        "tier": "deep",
        "device": encoder.device_name,
        "dtype": str(encoder.dtype).removeprefix("torch."),
        "max_length": encoder.max_length,
        "batch_size": encoder.batch_size,
        "texts": len(texts),
        "seconds": round(seconds, 4),
        "texts_per_s": round(rate(len(texts), seconds)),
        "together": ["encoder", *(str(p) for p in bundles)],
        "heads": {"tokenize": _head(tokenize, len(texts))},
    }


def _is_static(path: Path | str) -> bool:
    from fairdesk.triage import static_heads

    try:
        return (
            bundle.read_meta(path, (*bundle.FORMATS, static_heads.FORMAT)).get("format")
            == static_heads.FORMAT
        )
    except bundle.BundleError:
        return False  # bundle.load says what is wrong with it


def _best_wall(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def _before(rules: FastTriage, models: Sequence[HashedLinearModel], texts: list[str]) -> None:
    """What every head together cost before shared featurisation: each text through the
    rules on its own, then each bundle's scikit-learn features and its own product."""
    for text in texts:
        rules.classify_one(text)
    for model in models:
        model.labels_of(model.decision_of(model.features.reference(texts)))


def _index_all(texts: list[str]) -> None:
    index = NearDuplicateIndex()
    for i, text in enumerate(texts):
        index.add(str(i), text)


def main(limit: int = 10_000) -> None:
    texts, _source = bench_texts(limit)
    result = bench(texts)
    dedupe_s = _best(lambda: _index_all(texts), 3)
    print(f"classify: {len(texts)} texts, {result['texts_per_s']:,} texts/s")
    print(f"near-duplicate add: {rate(len(texts), dedupe_s):,.0f} texts/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
