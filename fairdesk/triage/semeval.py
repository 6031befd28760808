"""Build the sentiment training CSV that stands in for TweetEval's missing train text.

``python -m fairdesk.triage.semeval OUT.csv [--data ../shared/data]`` reads the SemEval
2013-2016 Task 4A pool (``semeval2017-task4a/*.tsv``: ``id<TAB>label<TAB>text``, JSON-style
escapes), keeps one row per tweet id, drops every tweet that also occurs in TweetEval's
sentiment validation split (matched on normalised text and on its first 40 normalised
characters, as ``../shared/data/tweeteval/PROVENANCE.md`` advises), maps the labels to
TweetEval's ids (negative 0, neutral 1, positive 2) and writes ``text,label`` CSV rows with
mentions anonymised to ``@user`` and URLs removed, as TweetEval does.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

from fairdesk.triage.benchmark import DATA

LABELS = {"negative": "0", "neutral": "1", "positive": "2"}
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+")
_KEY = re.compile(r"[^a-z0-9]+")


def unescape(text: str) -> str:
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text.replace('\\"', '"').replace("\\/", "/")


def tweeteval_style(text: str) -> str:
    text = _URL.sub("", unescape(text))
    return " ".join(_MENTION.sub("@user", text).split())


def key(text: str) -> str:
    return _KEY.sub("", tweeteval_style(text).lower().replace("@user", ""))


def build(data: Path = DATA) -> tuple[list[tuple[str, str]], dict[str, int]]:
    val = (data / "tweeteval" / "sentiment" / "val_text.txt").read_text(encoding="utf-8")
    val_keys = {key(t) for t in val.splitlines()}
    val_keys.discard("")
    val_prefixes = {k[:40] for k in val_keys if len(k) >= 40}
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    stats = {"read": 0, "duplicate_id": 0, "in_val": 0, "bad_row": 0}
    for path in sorted((data / "semeval2017-task4a").glob("twitter-*-A.tsv")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            stats["read"] += 1
            fields = line.split("\t")
            if len(fields) < 3 or fields[1].strip() not in LABELS:
                stats["bad_row"] += 1
                continue
            tweet_id, label, text = fields[0].strip(), fields[1].strip(), fields[2]
            if tweet_id in seen:
                stats["duplicate_id"] += 1
                continue
            seen.add(tweet_id)
            k = key(text)
            if k in val_keys or (len(k) >= 40 and k[:40] in val_prefixes):
                stats["in_val"] += 1
                continue
            rows.append((tweeteval_style(text), LABELS[label]))
    stats["kept"] = len(rows)
    return rows, stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    rows, stats = build(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    print(f"{args.out}: {stats}", file=sys.stderr)


if __name__ == "__main__":
    main()
