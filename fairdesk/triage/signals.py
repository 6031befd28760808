"""Escalation signals found by rules over folded text (see DESIGN.md section 1.7).

Every rule is a phrase pattern, so the result depends only on WHICH phrases occur:
shouting, repetition and angry filler cannot add or remove a signal.
"""

from __future__ import annotations

import re
from collections.abc import Set

from fairdesk.triage.lexicon import CANT, NEG, phrases

_BODY = r"(?:hand|hands|finger|fingers|arm|arms|leg|face|skin|child|son|daughter|kid|kids|baby)"
_DEVICE = r"(?:panel|page|console|dashboard|endpoint|interface|portal)"

SIGNAL_PATTERNS: dict[str, re.Pattern[str]] = {
    "security_report": phrases(
        [
            r"security (?:vulnerability|vulnerabilities|hole|flaw|bug|issue|problem|risk)",
            r"vulnerabilit(?:y|ies)",
            rf"exposed (?:admin|debug|test|staging)? ?{_DEVICE}",
            rf"(?:admin|debug) {_DEVICE} (?:is |was )?(?:public|publicly|exposed|open|"
            r"accessible|reachable|visible)",
            r"xss|cross[- ]site scripting|csrf|sql ?injection|sqli|idor|rce",
            r"remote code execution|privilege escalation|auth(?:entication)? bypass",
            r"data (?:leak|leaks|breach|exposure)|leak(?:ed|ing|s)? (?:customer|user|personal|"
            r"card|private) (?:data|details|info|information)",
            r"(?:hacker|hackers|attacker|attackers|anyone|someone) (?:could|can) (?:access|read|"
            r"see|steal|take over|log in|download|change|delete)",
            r"cve(?:-\d{4}-\d+)?",
            r"responsible(?:ly)? disclos(?:e|ure|ing)|bug bounty",
            r"(?:api key|api keys|credentials|passwords?|tokens?) (?:are |is )?(?:exposed|"
            r"leaked|in plain ?text|visible)",
            r"plain ?text passwords?",
        ]
    ),
    "safety": phrases(
        [
            r"caught (?:on )?fire|burst into flames|(?:went|go|goes) up in flames",
            r"(?:smoke|smoking) (?:from|out|coming|pouring|everywhere)|"
            r"(?:there'?s|there is|there was|saw|full of) smoke",
            r"smell(?:s|ed|ing)? (?:of )?(?:smoke|burning|gas)|gas (?:smell|leak|leaking)",
            r"electric(?:al)? shocks?|electrocuted",
            rf"burn(?:ed|t|s)? (?:my|his|her|their|our|the) {_BODY}|"
            r"(?:got|was|were|been) (?:badly )?burn(?:ed|t)",
            rf"burns? (?:on|to) (?:my|his|her) {_BODY}",
            r"(?:i|we|he|she|they|my \w+|our \w+|someone|a (?:passenger|customer|child|kid)) "
            r"(?:was |were |got |has been |have been |had been )(?:\w+ )?injured|"
            r"(?:got|was|were|been) (?:badly|seriously) hurt|got hurt",
            r"injured (?:me|my|us|our|him|her|them|a passenger|a customer|someone)|"
            r"(?:my|our|his|her) injur(?:y|ies)|caused (?:an |my |a )?injur(?:y|ies)",
            r"explod(?:ed|es|ing)|exploded|sparks? (?:came|coming|flying)|sparking",
            r"carbon monoxide|choking hazard|food poisoning|allergic reaction|anaphyla\w*",
            r"overheat(?:ed|s|ing) (?:and|so|until)|melted (?:the|my)",
        ]
    ),
    "outage": phrases(
        [
            r"outages?",
            r"(?:down|not working|offline|broken) for (?:everyone|everybody|anyone|all of us|"
            r"all users|the whole)",
            r"(?:is )?(?:it|this) down for (?:anyone|everyone|everybody) else",
            rf"(?:everyone|everybody|nobody|no one|none of us|all of us|all users)(?: \w+){{0,4}} "
            rf"(?:{CANT}|can) (?:log ?in|sign ?in|login|access|connect)",
            rf"{CANT} (?:log ?in|sign ?in|login|access|connect)(?: \w+){{0,6}} "
            r"(?:everyone|everybody|all of us|nobody|whole (?:office|team|company|city|area))",
            r"(?:whole|entire) (?:site|app|service|network|system|platform|region|city|area) "
            r"(?:is |went |goes )?(?:down|offline|out)",
            r"widespread|service disruption|major incident",
        ]
    ),
    "service_down": phrases(
        [
            rf"{NEG} work(?:ing|s)?|stopped working|(?:is|are) down|went down|keeps? going down",
            r"no (?:internet|wifi|wi-fi|signal|service|connection|broadband|power|dial tone|"
            r"tv|cable|network|data)",
            r"(?:internet|wifi|broadband|connection|network|service|website|site|server|app) "
            r"(?:is |keeps )?(?:down|out|dropping|offline)",
            r"(?:app|website|site|game) (?:keeps |is )?crash(?:es|ed|ing)?|keeps crashing",
            rf"{CANT} (?:connect|load|stream|play|access)|won'?t (?:load|connect|open|start|"
            r"turn on)|not loading",
        ]
    ),
    "money_lost": phrases(
        [
            r"charged (?:me )?(?:twice|double|two times|three times|again)|double[- ]?charged",
            r"refund(?:s|ed)?|money (?:was |has been |got )?(?:taken|stolen|gone|deducted)",
            r"(?:took|taken|stole|stolen) (?:all )?my money|over[- ]?charg(?:ed|ing)",
            r"unauthori[sz]ed (?:charge|charges|payment|payments|transaction|transactions|debit)",
            r"charged (?:me )?for (?:something|a|an|the)(?: \w+){0,3} (?:i )?"
            r"(?:never|didn'?t|did not|cancelled|canceled)",
            r"lost (?:my )?money|want my money back|chargeback|money back",
        ]
    ),
    "legal_threat": phrases(
        [
            r"lawyers?|attorneys?|solicitors?|legal action|lawsuit|class action",
            r"su(?:e|ing) (?:you|u|them|your|the company|over|for)|(?:will|going to|gonna) sue",
            r"small claims|ombudsman|trading standards|take you to court|see you in court",
            r"report(?:ing)? (?:you|this|them) to (?:the )?(?:bbb|ftc|fcc|cfpb|fca|ofcom|ofgem|"
            r"attorney general|regulator)",
        ]
    ),
}


LEXICON_ENTRIES = {f"signal:{name}": [rx] for name, rx in SIGNAL_PATTERNS.items()}
_LABELS = tuple((f"signal:{name}", name) for name in sorted(SIGNAL_PATTERNS))
_LABEL_SET = frozenset(label for label, _ in _LABELS)


def signals_in(found: Set[str]) -> tuple[str, ...]:
    """Sorted signal names among the lexicon labels ``found`` in a text."""
    if _LABEL_SET.isdisjoint(found):  # most texts: no signal at all
        return ()
    return tuple(name for label, name in _LABELS if label in found)
