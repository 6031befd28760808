"""The fast triage tier: rules, lexicons and VADER; offline, CPU only, no model files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fairdesk.triage import abuse, intent, sentiment, signals, spam, stance, topics
from fairdesk.triage.language import detect_language
from fairdesk.triage.lexicon import Lexicon
from fairdesk.triage.normalise import normalise
from fairdesk.triage.staff import StaffMatcher
from fairdesk.triage.types import StaffMember, TriageResult

logger = logging.getLogger(__name__)

# Every phrase list of the fast tier, matched in one pass per text.
LEXICON = Lexicon(
    {
        **signals.LEXICON_ENTRIES,
        **topics.LEXICON_ENTRIES,
        **intent.LEXICON_ENTRIES,
        **stance.LEXICON_ENTRIES,
        **spam.LEXICON_ENTRIES,
        **abuse.LEXICON_ENTRIES,
    }
)

UNREADABLE = TriageResult(
    language="und",
    sentiment="neutral",
    sentiment_score=0.0,
    signals=(),
    topic="other",
    intent="feedback",
    praise=False,
    praised_staff=(),
    stance="neutral",
    spam=False,
    spam_reason="",
    offensive=False,
)


class FastTriage:
    """``classify(texts) -> results``, one result per text, in order; never raises."""

    def __init__(self, staff: Sequence[StaffMember] = ()) -> None:
        self._staff = StaffMatcher(staff)

    def classify(self, texts: Sequence[str]) -> list[TriageResult]:
        return [self.classify_one(text) for text in texts]

    def classify_one(self, text: str) -> TriageResult:
        if not isinstance(text, str):
            text = ""
        try:
            return self._classify(text)
        except Exception:  # a bad text must not stop the batch
            logger.exception("fast triage failed on a %d-character text", len(text))
            return UNREADABLE

    def _classify(self, text: str) -> TriageResult:
        norm = normalise(text)
        folded = norm.folded
        found = LEXICON.find(folded)
        found_signals = signals.signals_in(found)
        praise = intent.is_praise(folded, found)
        kind = intent.detect_intent(folded, found, has_signal=bool(found_signals), praise=praise)
        compound = sentiment.score(norm.clean)
        reason = spam.spam_reason(
            found, url_count=norm.url_count, reports_problem=kind == "complaint"
        )
        return TriageResult(
            language=detect_language(folded),
            sentiment=sentiment.label(compound),
            sentiment_score=round(compound, 4),
            signals=found_signals,
            topic="security" if "security_report" in found_signals else topics.topic_of(found),
            intent=kind,
            praise=praise,
            praised_staff=self._staff.match(norm.clean) if praise else (),
            stance=stance.stance_of(found, sentiment_score=compound, intent=kind),
            spam=bool(reason),
            spam_reason=reason,
            offensive="offensive" in found,
        )
