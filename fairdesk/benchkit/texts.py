"""Message texts for the seeded workspace, read at run time and never copied into the repo.

Customer messages come from public corpora in the shared data directory (the airline
tweets with their sentiment labels, the SpotifyCares support requests, inbound TWCS
tweets, Banking77 queries for private channels, SMS spam), brand replies from the
outbound TWCS tweets. Each corpus's terms are in its ``PROVENANCE.md``. ``--texts FILE``
(one customer message per line) replaces the customer side; without any of them the
pools are generated from templates, so the bench also runs where the data is missing.
"""

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

SENTIMENTS = ("negative", "neutral", "positive")
MAX_CHARS = 1000


@dataclass(slots=True)
class TextPools:
    """Texts by sentiment (customer side), brand replies, private queries and spam."""

    inbound: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SENTIMENTS})
    private: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    spam: list[str] = field(default_factory=list)
    source: str = "generated"

    def complete(self) -> "TextPools":
        """Fill whatever a source left empty with generated texts."""
        generated = generated_pools()
        for sentiment in SENTIMENTS:
            if not self.inbound[sentiment]:
                self.inbound[sentiment] = generated.inbound[sentiment]
        for name in ("private", "replies", "spam"):
            if not getattr(self, name):
                setattr(self, name, getattr(generated, name))
        return self


def default_data_dir() -> Path:
    """``../shared/data`` next to the checkout."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def load(texts_file: Path | None = None, data_dir: Path | None = None) -> TextPools:
    """The pools from ``texts_file``, else the shared corpora, else generated text."""
    data_dir = data_dir if data_dir is not None else default_data_dir()
    pools = TextPools()
    if texts_file is not None:
        lines = [_clean(line) for line in texts_file.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise ValueError(f"{texts_file} holds no text (one message per line).")
        pools.inbound = {s: lines for s in SENTIMENTS}
        pools.private = lines
        pools.source = str(texts_file)
    elif data_dir.is_dir():
        _read_corpora(pools, data_dir)
        pools.source = str(data_dir)
    if data_dir.is_dir():
        pools.replies = _twcs(data_dir / "twcs" / "head-5000" / "twcs.csv", inbound=False)
        pools.spam = _spam(data_dir / "sms-spam-collection" / "sms.tsv")
    return pools.complete()


def _clean(text: str) -> str:
    """One line, no NUL (PostgreSQL refuses it), bounded length."""
    return " ".join(text.replace("\x00", " ").split())[:MAX_CHARS]


def _rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return list(csv.reader(handle))


def _read_corpora(pools: TextPools, data_dir: Path) -> None:
    airline = _rows(data_dir / "twitter-us-airline-sentiment" / "Tweets.csv")
    for row in airline[1:]:
        if len(row) >= 5 and row[1] in pools.inbound and (text := _clean(row[4])):
            pools.inbound[row[1]].append(text)
    # Support requests carry no label: most are problems, so they count as negative.
    spotify = _rows(data_dir / "twcs" / "spotifycares-support-requests" / "support_requests.csv")
    pools.inbound["negative"].extend(
        t for row in spotify[1:] if len(row) > 6 and (t := _clean(row[6]))
    )
    pools.inbound["neutral"].extend(
        _twcs(data_dir / "twcs" / "head-5000" / "twcs.csv", inbound=True)
    )
    banking = _rows(data_dir / "banking77" / "train.csv")
    pools.private.extend(t for row in banking[1:] if row and (t := _clean(row[0])))


def _twcs(path: Path, *, inbound: bool) -> list[str]:
    """Texts of the head of TWCS (a leading index column, then the seven columns)."""
    rows = _rows(path)
    wanted = "True" if inbound else "False"
    return [t for row in rows[1:] if len(row) > 5 and row[3] == wanted and (t := _clean(row[5]))]


def _spam(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [t for line in lines if line.startswith("spam\t") and (t := _clean(line[5:]))]


PROBLEMS = (
    "my order {n} has not arrived",
    "the app crashes when I open my account",
    "I was charged twice for order {n}",
    "the heating element of my dryer failed again",
    "the technician never came",
    "I cannot log in since this morning",
    "my refund for {n} is still missing",
    "the router lights are red and the internet is down",
)
PRAISE = (
    "Thanks {name}, you sorted my booking out so quickly!",
    "Brilliant service from {name} today, really appreciated",
    "Love the new update, the app is so much faster now",
)
NEUTRAL = (
    "How do I change the delivery address for order {n}?",
    "Do you ship to Norway?",
    "What are your opening hours on Sunday?",
)
REPLIES = (
    "Sorry about this, we're on it. Could you DM us the order number?",
    "Thanks for letting us know. A replacement is on its way, tracking follows by e-mail.",
    "We have refunded the second payment; it shows on your statement within 3 days.",
    "Glad to hear it, we'll pass your kind words on to the team!",
)
NAMES = ("Maria", "Jon", "Priya", "Sam", "Lena", "Tom")


def generated_pools() -> TextPools:
    """Template texts: the fallback when no corpus can be read."""
    rng = random.Random(7)
    pools = TextPools()
    for n in range(400):
        pools.inbound["negative"].append(
            f"{rng.choice(PROBLEMS).format(n=1000 + n)}, can someone help?".capitalize()
        )
        pools.inbound["positive"].append(rng.choice(PRAISE).format(name=rng.choice(NAMES)))
        pools.inbound["neutral"].append(rng.choice(NEUTRAL).format(n=1000 + n))
    pools.private = [t for t in pools.inbound["negative"]]
    pools.replies = list(REPLIES)
    pools.spam = [f"Earn $$$ from home, click here http://spam.example/{n} now" for n in range(50)]
    return pools
