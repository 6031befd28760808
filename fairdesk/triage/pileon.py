"""Pile-on (crisis) detection: many different customers, one problem, a short window.

DESIGN §5: "a burst of many customers with the same problem raises severity for all of
them, on every channel", and repetition by one customer must never raise anything. So a
pile-on counts *people* (the caller passes the contact as ``author``, never the identity,
handle, channel, follower count or message), and a window only qualifies when it holds
reports from at least ``PILEON_MIN_AUTHORS`` different people. One customer writing 50
times is one author.

Two reports are about "the same problem" when any of these match:
- the same severity signals (outage, money lost, ...) on the same topic;
- the same topic (not ``other``) and both are complaints;
- near-duplicate texts: ``duplicate_of`` (the key of the first text of a near-duplicate
  cluster, from ``duplicates.NearDuplicateIndex``), or the report's own key when it is
  that first text.
The first two come from the same content cues as severity and team, which the fairness
property proves unmoved by loudness, channel or audience. The text path also catches
copy-paste campaigns about problems the topic model does not know; filler text appended
by some authors can split such a cluster (a known limit; the other two paths are immune).
Only problem reports count: a report needs a signal or a question/complaint/request
intent, so a burst of praise or feedback is not a crisis.

The thresholds are constants, chosen for a support desk's scale: five different people
within thirty minutes is well above the chance rate of identical complaints and well
below a viral spike. ``raised`` moves a severity up one level, capped at ``critical``
(what a security report gets): a pile-on never ranks above a security report.
Pure Python: no Django, no clock; the caller decides which reports to look at.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fairdesk.triage.severity import NORMAL_INTENTS, SEVERITIES

PILEON_MIN_AUTHORS = 5
PILEON_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Report:
    """One inbound problem report as the detector sees it.

    ``key`` is unique per message (``channel:external_id``); ``author`` identifies the
    person (a contact id), so the same customer on two channels is one author.
    """

    key: str
    author: Hashable
    at: datetime
    topic: str
    signals: tuple[str, ...]
    intent: str
    duplicate_of: str = ""


@dataclass(frozen=True, slots=True)
class PileOn:
    """Reports (by key) that fall in a qualifying window of one problem."""

    problem: str
    keys: frozenset[str]
    authors: int
    started_at: datetime
    last_at: datetime
    # Reports in the pile-on; more than ``keys`` when the caller followed it from earlier
    # batches (``inbound.threading`` counts since its start, ``keys`` are the ones it read).
    reports: int = field(default=0, compare=False)

    def summary(self) -> dict[str, object]:
        """JSON-friendly description for case events (no customer text)."""
        return {
            "problem": self.problem,
            "authors": self.authors,
            "reports": self.reports or len(self.keys),
            "started_at": self.started_at.isoformat(),
        }


def problems_of(report: Report) -> tuple[str, ...]:
    """The problem labels a report counts towards; empty for praise, feedback and chatter."""
    if not report.signals and report.intent not in NORMAL_INTENTS:
        return ()
    problems = [f"text:{report.duplicate_of or report.key}"]
    if report.signals:
        problems.append(f"signal:{report.topic}:{'+'.join(sorted(report.signals))}")
    if report.topic != "other" and report.intent == "complaint":
        problems.append(f"topic:{report.topic}")
    return tuple(problems)


def grouped_by_topic(report: Report) -> bool:
    """Whether a report may join other texts on its topic (callers use it to select)."""
    return any(not problem.startswith("text:") for problem in problems_of(report))


def detect(reports: Iterable[Report]) -> list[PileOn]:
    """Every pile-on among ``reports``, ordered by problem label. A report key counts once."""
    unique = {report.key: report for report in reports}
    groups: dict[str, list[Report]] = defaultdict(list)
    for report in unique.values():
        for problem in problems_of(report):
            groups[problem].append(report)
    found = (_burst(problem, members) for problem, members in sorted(groups.items()))
    return [pileon for pileon in found if pileon is not None]


def _burst(problem: str, members: Sequence[Report]) -> PileOn | None:
    """Reports inside any ``PILEON_WINDOW`` that holds ``PILEON_MIN_AUTHORS`` authors
    (``_qualifying_windows``: linear time however many times one author repeats)."""
    ordered = sorted(members, key=lambda r: (r.at, r.key))
    taken = 0  # reports before this index are already in the pile-on or never will be
    chosen: list[Report] = []
    for start, end in _qualifying_windows(ordered):
        chosen.extend(ordered[max(start, taken) : end + 1])
        taken = end + 1
    if not chosen:
        return None
    return PileOn(
        problem=problem,
        keys=frozenset(r.key for r in chosen),
        authors=len({r.author for r in chosen}),
        started_at=chosen[0].at,
        last_at=chosen[-1].at,
        reports=len(chosen),
    )


def spans(problem: str, reports: Iterable[Report]) -> list[tuple[datetime, datetime]]:
    """Where ``problem`` is a pile-on among ``reports``: runs of qualifying windows that
    overlap in time, each from its first report to its last window's end, oldest first.

    Every instant of a span lies in a window of ``PILEON_MIN_AUTHORS`` people, so any report
    of the problem written within a span belongs to the pile-on, whatever else arrives.
    Reports missing from ``reports`` can only make the spans shorter, never longer.
    """
    unique = {report.key: report for report in reports}
    ordered = sorted(
        (r for r in unique.values() if problem in problems_of(r)), key=lambda r: (r.at, r.key)
    )
    found: list[tuple[datetime, datetime]] = []
    for start, end in _qualifying_windows(ordered):
        report = ordered[end]
        if found and report.at - PILEON_WINDOW <= found[-1][1]:
            found[-1] = (found[-1][0], report.at)
        else:
            found.append((ordered[start].at, report.at))
    return found


def _qualifying_windows(ordered: Sequence[Report]) -> Iterator[tuple[int, int]]:
    """(start, end) indexes of each ``PILEON_WINDOW`` ending at a report of ``ordered``
    (in time order) that holds ``PILEON_MIN_AUTHORS`` people. A sliding window counting
    reports per author, so it runs in linear time however often one author repeats."""
    per_author: Counter[Hashable] = Counter()
    start = 0
    for end, report in enumerate(ordered):
        per_author[report.author] += 1
        while report.at - ordered[start].at > PILEON_WINDOW:
            old = ordered[start].author
            per_author[old] -= 1
            if not per_author[old]:
                del per_author[old]
            start += 1
        if len(per_author) >= PILEON_MIN_AUTHORS:
            yield start, end


def raised(severity: str) -> str:
    """One level more severe, never above ``critical`` (a security report's severity)."""
    rank = SEVERITIES.index(severity)
    return SEVERITIES[max(rank - 1, 0)]
