"""Promotional and scam content, by rules with a reason an agent can read.

Strong rules mark spam on their own ("free followers", "you have won a prize"). Weak
ones ("click here", and promo words such as "shop now" that only count next to a link)
never fire when the text reports a concrete problem, so a real complaint with a
screenshot link is kept. "Follow me" is NOT spam: customers ask brands to follow back
so they can DM.
"""

from __future__ import annotations

import re
from collections.abc import Set

from fairdesk.triage.lexicon import phrases

_MONEY = r"(?:[$£€]\s?\d[\d,.]*k?|\$\$+|\d[\d,.]*k? ?(?:dollars|pounds|euros|usd|gbp)|cash|money)"

_STRONG_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "follower scheme",
        phrases(
            [
                r"(?:free|buy|cheap|real|gain|instant) (?:\d+k? )?(?:more )?"
                r"(?:followers|likes|retweets|subscribers)",
                r"f4f|follow ?train|follow for follow|teamfollowback|get \d+k? followers",
            ]
        ),
    ),
    (
        "crypto promotion",
        phrases(
            [
                r"crypto(?:currency)? (?:signals?|giveaway|airdrop|trading|profits?|invest\w*)",
                r"(?:bitcoin|btc|eth|nft|nfts|token) (?:giveaway|airdrop|presale|signals?)",
                r"airdrop|nft drop|presale|pump group",
            ]
        ),
    ),
    (
        "money-making scheme",
        phrases(
            [
                rf"(?:earn|make|making|earning) (?:up to )?{_MONEY} ?(?:/|per|a|an|every|each) ?"
                r"(?:day|week|hour|month|wk)",
                r"(?:earn|make) (?:money|cash) (?:from home|online|fast|daily)|earn \$\$+",
                r"passive income|guaranteed (?:profit|profits|returns|income)|"
                r"double your (?:money|bitcoin|btc)|investment opportunit(?:y|ies)|get rich quick",
            ]
        ),
    ),
    (
        "prize scam",
        phrases(
            [
                r"(?:you have|you've|u have|you are|u are|you're) (?:been )?(?:won|winner|"
                r"selected|chosen|awarded)",
                r"claim (?:your|ur) (?:\w+ )?(?:prize|reward|gift|cash|bonus|voucher)|"
                r"cash prize|prize (?:guaranteed|draw)|won (?:a|an|the) (?:\w+ )?prize",
                r"(?:txt|text|sms|send) (?:\w+ ){0,3}to \d{4,6}|premium rate number",
                r"(?:reply|txt|text|send) stop|stop to (?:opt ?out|unsubscribe|end)",
                r"(?:selected|chosen) to receive|(?:are|r) entitled to|claim code|"
                r"(?:[$£€]\s?[\d,]+ ?|\d+ ?(?:pounds|dollars) )(?:reward|award|prize|bonus)",
            ]
        ),
    ),
    (
        "premium-rate marketing",
        phrases(
            [
                r"call (?:now |free |freephone |us |today )*(?:on |at )?"
                r"0[789]\d{2} ?\d{3} ?\d{3,4}",
                r"free (?:camera phone|ringtones?|tones|msg|entry)",
                r"\d+p ?/ ?(?:min|msg|sms|txt|text|week|wk)|\d+ ?ppm|t ?& ?cs? apply|"
                r"(?:txt|text|reply|send) (?:\w+ )?(?:to )?opt ?out|2 ?optout|to opt ?out",
                r"loans? for any purpose|bad credit|(?:dating|chat) (?:service|line)",
            ]
        ),
    ),
    (
        "promotion",
        phrases(
            [
                r"dm (?:me |us )?(?:for|4) (?:promo|promotion|collab|shout ?out|paid|price)",
                r"click (?:here|the link|this link|below|now)|(?:link|links) in (?:my )?bio",
                r"limited time (?:offer|only)|act now|100% free|risk[- ]free",
            ]
        ),
    ),
)
_LINK_PROMO_RE = phrases(
    [
        r"buy now|shop now|order now|sign up (?:now|today|here)|check out my|"
        r"(?:discount|promo|coupon) codes?|\d+% off|giveaway|limited offer|"
        r"free (?:trial|shipping|gift|download|followers)",
    ]
)


_WEAK = frozenset({"promotion"})  # "click here" also appears in bug reports
LEXICON_ENTRIES = {f"spam:{reason}": [rx] for reason, rx in _STRONG_RULES}
LEXICON_ENTRIES["spam:link_promo"] = [_LINK_PROMO_RE]


_STRONG_LABELS = tuple((f"spam:{reason}", reason) for reason, _ in _STRONG_RULES)


def spam_reason(found: Set[str], *, url_count: int, reports_problem: bool) -> str:
    """The spam reason, or ``""`` when the text is not spam."""
    for label, reason in _STRONG_LABELS:
        if label in found and not (reports_problem and reason in _WEAK):
            return reason
    if url_count and not reports_problem and "spam:link_promo" in found:
        return "promotional link"
    return ""
