"""Abusive or insulting inbound text. Used to flag abuse, never to change priority."""

from __future__ import annotations

from fairdesk.triage.lexicon import phrases

_OFFENSIVE_RE = phrases(
    [
        r"fu+c*k+\w*|f[*@#]+c?k\w*|fck\w*|motherf\w+|wtf|stfu|gtfo",
        r"sh[i!1*]t+(?:ty|head|hole|show)?|bullshit|crap|bitch\w*|bastards?|ass(?:hole)?s?|"
        r"arse(?:hole)?s?|dick(?:head)?s?|cunts?|twats?|wank\w*|pricks?|douche\w*|piss(?:ed)? off",
        r"idiots?|morons?|imbeciles?|stupid|dumb(?:ass)?|retard\w*|clowns?|losers?|scum\w*|"
        r"pathetic|incompetent (?:fools?|idiots?|morons?)|useless (?:idiots?|morons?|bunch)",
        r"go to hell|kill yourself|kys|die in a fire|hope you die|screw you|shut up",
        r"(?:you|u|y'all|you guys) (?:are|r) (?:a |an )?(?:joke|frauds?|thie(?:f|ves)|liars?|"
        r"crooks?|criminals?|scammers?|garbage|trash|rubbish)",
    ]
)


LEXICON_ENTRIES = {"offensive": [_OFFENSIVE_RE]}
