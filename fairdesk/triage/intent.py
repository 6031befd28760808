"""Intent and praise from content cues only (never from sentiment or loudness).

Order of precedence: a concrete problem makes a complaint, then a question, a request,
praise; anything else is feedback. Cues are presence tests, so repeating a text or
appending angry filler ("WORST SERVICE EVER") cannot change the intent.
"""

from __future__ import annotations

import re
from collections.abc import Set

from fairdesk.triage.lexicon import CANT, NEG, phrases

PRAISE_RE = phrases(
    [
        r"thank(?:s| you)(?: so much| a lot)?|thx|ty|many thanks|huge thanks|big thanks|cheers",
        r"kudos|shout ?out|props to|hats off|well done|great job|good job|nice work|bravo",
        r"amazing|awesome|fantastic|brilliant|excellent|outstanding|superb|wonderful|"
        r"exceptional|impressed|grateful|really appreciate|appreciate (?:you|your|all|it)|"
        r"much appreciated",
        r"(?:was|were|is|so|very|really) (?:so )?(?:kind|helpful|friendly|patient|lovely|"
        r"nice|sweet|professional|quick|great|caring)",
        r"above and beyond|made my day|saved the day|love (?:you|you guys|it|this|@@)|"
        r"best (?:service|airline|support|customer service|team|company)",
    ]
)
_QUESTION_START_RE = re.compile(
    r"^(?:@@ |<url> )*(?:how|what|why|when|where|who|which|is|are|can|could|do|does|did|"
    r"will|would|should|has|have|any ?one|anybody)\b"
)
PROBLEM_RE = phrases(
    [
        r"broken|broke|faulty|defective|damaged|cracked|missing|lost|stolen|wrong|error|bug",
        r"delayed|delay|late|cancel(?:l)?ed|overbooked|stranded|stuck|failed|declined|"
        r"rejected|locked out",
        r"never (?:arrived|received|came|showed|got|delivered|answered|replied|called)|"
        r"(?:hasn'?t|has not|haven'?t|have not|didn'?t|did not) (?:arrived?|received?|"
        r"come|got|gotten|shown|been (?:delivered|fixed|refunded|answered))",
        r"still (?:waiting|no|not|haven'?t|hasn'?t|broken|down)|waiting (?:for|since|over)|"
        r"on hold|no (?:response|reply|answer|one answered)|nobody (?:answered|replied|called)",
        rf"{CANT} (?:log ?in|sign ?in|login|access|find|get|connect|use|open|pay|book|check|"
        r"cancel|reach|download|update|install|see|hear|send|receive)",
        rf"{NEG} (?:work|working|arrived?|received?|fixed|resolved|charging|loading|turn on)",
        r"issue|issues|problem|problems|complain(?:t|ts|ing)?|mess(?:ed)? up|screwed up|"
        r"rude|leaking|overheating|keeps? (?:crashing|dropping|failing|freezing)|"
        r"nothing happens|does nothing|(?:doesn'?t|does not|won'?t) do anything",
    ]
)
REQUEST_RE = phrases(
    [
        r"please|pls|plz|can you|could you|would you|will you",
        r"i need|we need|i want|i'd like|i would like|help me|need help|need to",
        r"dm me|call me|email me|contact me|get back to me|let me know",
        r"cancel my|change my|update my|close my|reset my|send me",
    ]
)


_NOT_PRAISE_RE = phrases(
    [
        r"thanks? (?:you )?(?:a lot )?for (?:nothing|ruining|wasting|losing|ignoring|breaking)",
        r"(?:great|good|nice|amazing|fantastic) (?:job|work) (?:ruining|losing|breaking|wasting)",
        r"(?:oh|yeah),? (?:great|awesome|wonderful|fantastic)",
    ]
)
_NEGATED_TAIL_RE = re.compile(r"(?:\bnot|\bnever|n't|\bno|\bnothing)\W+(?:\w+\W+)?$")


LEXICON_ENTRIES = {"praise": [PRAISE_RE], "problem": [PROBLEM_RE], "request": [REQUEST_RE]}


def is_praise(folded: str, found: Set[str]) -> bool:
    """A compliment cue that is neither negated ("not helpful") nor sarcastic."""
    if "praise" not in found:
        return False
    excluded = [m.span() for m in _NOT_PRAISE_RE.finditer(folded)]
    for match in PRAISE_RE.finditer(folded):
        start, end = match.span()
        if any(s <= start and end <= e for s, e in excluded):
            continue
        if not _NEGATED_TAIL_RE.search(folded, max(0, start - 24), start):
            return True
    return False


def is_question(folded: str) -> bool:
    return "?" in folded or _QUESTION_START_RE.match(folded) is not None


def detect_intent(folded: str, found: Set[str], *, has_signal: bool, praise: bool) -> str:
    """One of question, complaint, praise, feedback, request."""
    if has_signal or "problem" in found:
        return "complaint"
    if is_question(folded):
        return "question"
    if "request" in found:
        return "request"
    return "praise" if praise else "feedback"
