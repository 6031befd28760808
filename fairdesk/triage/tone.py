"""Tone guard for OUTBOUND replies: stop insults, condescension, sarcasm, threats, blame.

Rules run on NFKC text with case ignored; the excerpt is the matched span as written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from fairdesk.triage.normalise import strip_markup
from fairdesk.triage.types import ToneIssue, ToneVerdict

_YOU = r"(?:you|u|y'all|you guys|you people|your team)"


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    explanation: str


def _rule(kind: str, fragments: list[str], explanation: str) -> _Rule:
    body = "|".join(f"(?:{f})" for f in fragments)
    return _Rule(kind, re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE), explanation)


RULES: tuple[_Rule, ...] = (
    _rule(
        "insult",
        [
            rf"{_YOU} (?:are|r|'re|re) (?:a |an |such )?(?:\w+ )?(?:frauds?|idiots?|morons?|"
            r"liars?|clowns?|losers?|stupid|dumb|pathetic|incompetent|crazy|scammers?|joke)",
            r"idiots?|morons?|imbeciles?|stupid|dumb|clueless|pathetic|losers?|clowns?|"
            r"frauds?|scammers?|crybab(?:y|ies)",
            r"(?:another|real|such a|some) genius|genius who|shut up|get lost|grow up",
        ],
        "Insults the customer. Name-calling is never acceptable from the brand.",
    ),
    _rule(
        "condescension",
        [
            r"(?:over|above|beyond) (?:your|his|her|their) (?:pay ?(?:scale|grade)|head|"
            r"understanding|level)",
            r"(?:can'?t|cannot|couldn'?t|didn'?t|don'?t|do not|did not) (?:even )?(?:read|follow)"
            r" (?:the |a )?(?:manual|instructions|faq|docs|documentation)",
            r"read the (?:manual|instructions|faq)|rtfm|calm down|relax|obviously|"
            r"as (?:i|we) (?:already|clearly) (?:said|told|explained|stated)|it'?s not rocket "
            r"science|(?:even a child|anyone) (?:could|can) (?:do|understand)|simple enough|"
            r"learn (?:how )?to read|clearly you|you clearly (?:don'?t|didn'?t|can'?t)",
            r"if you (?:had )?(?:bothered|read|listened|paid attention)",
        ],
        "Talks down to the customer. Explain plainly without judging them.",
    ),
    _rule(
        "sarcasm",
        [
            r"(?:oh|wow),? (?:great|brilliant|wonderful|fantastic),? (?:another|more|now|so|just)|"
            r"oh,? sure|yeah,? sure|wow,? thanks",
            r"sure,? because|because we have nothing better to do|nothing better to do",
            r"yeah,? right|good luck with that|congratulations on|thanks for nothing|"
            r"what a (?:surprise|shock)|how (?:original|shocking)|big surprise|slow clap",
        ],
        "Sarcasm reads as mockery in writing. Say what you mean, sincerely.",
    ),
    _rule(
        "threat",
        [
            r"(?:we'?ll|we will|we are going to|we're going to|we'?d|we can|we may) (?:\w+ )?"
            r"(?:ban|block|report|sue|blacklist|cut you off|close your account|expose|"
            r"suspend)(?: \w+)?",
            r"do that again|try that again|or else|you'?ll regret|you will regret|"
            r"watch (?:yourself|your mouth|your tone)|legal action against you|see you in court",
        ],
        "Threatens the customer. Set boundaries by policy, never by threat.",
    ),
    _rule(
        "blame",
        [
            r"(?:it'?s|it is|that'?s|that is|this is|all|entirely) (?:\w+ )?(?:your|ur) "
            r"(?:own )?fault|your (?:own )?fault|user error|you broke|you caused|you did this",
            r"you should(?:'ve| have) (?:known|read|checked|listened|thought)|"
            r"not our (?:problem|fault|responsibility)|blame yourself|you only have yourself",
        ],
        "Blames the customer. Own the problem and focus on fixing it.",
    ),
)

_SUGGESTIONS: dict[str, str] = {
    "insult": "Remove the insult and acknowledge the customer's frustration, e.g. "
    "\"I'm sorry this has been so frustrating, {name}. Here is what I'll do next: ...\"",
    "condescension": "Drop the judgement and give the steps plainly, e.g. "
    "\"Here's how to fix it: 1) ... 2) ... If that doesn't work, reply here and we'll help.\"",
    "sarcasm": "Say it sincerely, e.g. "
    '"Thanks for your patience. Let me look into this for you right now."',
    "threat": "State the policy calmly instead of threatening, e.g. "
    '"We want to help; to do that we need to keep this conversation respectful."',
    "blame": "Take ownership and move to the fix, e.g. "
    '"Sorry this happened. Let\'s get it sorted: could you DM us your order number?"',
}
_MAX_EXCERPT = 80


def check_tone(text: str) -> ToneVerdict:
    """Check an outbound reply; ``allowed`` is False when any issue is found."""
    if not isinstance(text, str):
        text = ""
    prepared = unicodedata.normalize("NFKC", strip_markup(text)).replace("\u2019", "'")
    issues: list[ToneIssue] = []
    for rule in RULES:
        match = rule.pattern.search(prepared)
        if match:
            excerpt = match.group(0)[:_MAX_EXCERPT]
            issues.append(ToneIssue(rule.kind, excerpt, rule.explanation))
    suggestion = " ".join(_SUGGESTIONS[issue.kind] for issue in issues)
    return ToneVerdict(allowed=not issues, issues=tuple(issues), suggestion=suggestion)
