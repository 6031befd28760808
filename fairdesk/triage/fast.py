"""The fast triage tier: rules, lexicons and VADER, plus trained heads when bundles exist.

Offline and CPU only. The rules heads ship in the repository; trained heads
(``trained.py``) are optional and, when given, replace VADER's sentiment and add irony,
hate, emotion and a fine-grained request label. A batch is cleaned once, matched against
every phrase list in one pass (``Lexicon.find_all``) and featurised once for every trained
head (``stack.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fairdesk.triage import abuse, intent, sentiment, signals, spam, stance, topics
from fairdesk.triage.language import detect_language
from fairdesk.triage.lexicon import Lexicon
from fairdesk.triage.normalise import Normalised, normalise
from fairdesk.triage.staff import StaffMatcher
from fairdesk.triage.trained import HeadOutput, TrainedHeads
from fairdesk.triage.types import StaffMember, TriageResult

logger = logging.getLogger(__name__)

# Every phrase list of the fast tier, matched in one pass per batch.
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


NO_HEADS = HeadOutput()


class FastTriage:
    """``classify(texts) -> results``, one result per text, in order; never raises."""

    def __init__(self, staff: Sequence[StaffMember] = (), heads: TrainedHeads | None = None):
        self._staff = StaffMatcher(staff)
        self.heads = heads

    def classify(self, texts: Sequence[str]) -> list[TriageResult]:
        texts = [text if isinstance(text, str) else "" for text in texts]
        try:
            return self._classify(texts)
        except Exception:  # find the text that fails; the others must still be classified
            logger.exception("fast triage failed on a batch of %d texts", len(texts))
            return [self.classify_one(text) for text in texts]

    def classify_one(self, text: str) -> TriageResult:
        if not isinstance(text, str):
            text = ""
        try:
            return self._classify([text])[0]
        except Exception:  # a bad text must not stop the batch
            logger.exception("fast triage failed on a %d-character text", len(text))
            return UNREADABLE

    def _classify(self, texts: list[str]) -> list[TriageResult]:
        norms = [normalise(text) for text in texts]
        found = LEXICON.find_all([norm.folded for norm in norms])
        if self.heads is None:
            trained = [NO_HEADS] * len(texts)
        else:
            trained = self.heads.outputs([norm.clean for norm in norms])
        return [self._result(*item) for item in zip(norms, found, trained, strict=True)]

    def _result(self, norm: Normalised, found: set[str], head: HeadOutput) -> TriageResult:
        folded = norm.folded
        found_signals = signals.signals_in(found)
        praise = intent.is_praise(folded, found)
        kind = intent.detect_intent(folded, found, has_signal=bool(found_signals), praise=praise)
        if head.sentiment is None:
            compound = sentiment.score(norm.clean)
            feeling = sentiment.label(compound)
        else:
            compound, feeling = head.sentiment_score, head.sentiment
        reason = spam.spam_reason(
            found, url_count=norm.url_count, reports_problem=kind == "complaint"
        )
        return TriageResult(
            language=detect_language(folded),
            sentiment=feeling,
            sentiment_score=round(compound, 4),
            signals=found_signals,
            topic="security" if "security_report" in found_signals else topics.topic_of(found),
            intent=kind,
            praise=praise,
            praised_staff=self._staff.match(norm.clean) if praise else (),
            stance=stance.stance_of(found, sentiment_score=compound, intent=kind),
            spam=bool(reason),
            spam_reason=reason,
            offensive="offensive" in found or head.offensive,
            irony=head.irony,
            emotion=head.emotion,
            hate=head.hate,
            support_intent=head.support_intent,
        )
