"""The demo stream: interchange records (DESIGN section 10) that tell Fairdesk's stories.

Timestamps are relative to ``now``. External ids are deterministic for a given ``tag``,
so loading the same stream twice is a no-op; the replay passes fresh tags.
Dana's e-mail quotes her case reference, so it is built separately
(``dana_email_record``) once her first message has become a case.
"""

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fairdesk.demo.setup import BRAND_HANDLE

Record = dict[str, Any]
SOCIAL = ("x", "facebook", "instagram", "mastodon", "bluesky")
CHANNELS = (*SOCIAL, "email", "webform", "phone")

SECURITY_TEXT = (
    "@AcmeSupport security vulnerability: your admin/debug panel on "
    "status.acme-appliances.example is open to the internet without a login. Any hacker can "
    "read customer orders and addresses. I'm a developer, please don't send me to a hotline: "
    "who on your security team can I talk to?"
)
PRAISE_TEXT = "Huge thanks to Maria on flight AC 342, she was so kind to my kids"
CALLBACK_TEXT = (
    "Hi, could someone call me back about the integration with our shop system? "
    "The order sync API returns an error since Monday. Thanks, Priya"
)
ANGRY_TEXT = (
    "@AcmeSupport WORST SUPPORT EVER!!! Your integration with our shop system fails, "
    "the order sync API returns an error since Monday!!! FIX IT NOW"
)
SPAM_TEXT = "Earn $500/day from home!!! Click here http://bit.ly/earn-500-now buy now"
SPAM_COPIES = 30
BLOCKED_DRAFT = "you are frauds, this is over your pay scale"


def tagged(base: str, tag: str) -> str:
    """A story's external id or author id for one instance (the first has no tag)."""
    return f"{base}-{tag}" if tag else base


def handle_for(base: str, tag: str) -> str:
    return f"{base}_{tag}" if tag else base


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def author(
    external_id: str,
    handle: str,
    name: str,
    *,
    followers: int | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "handle": handle,
        "display_name": name,
        "followers": followers,
        "email": email,
        "phone": phone,
    }


def message(
    channel: str,
    external_id: str,
    text: str,
    *,
    by: dict[str, Any],
    at: datetime,
    visibility: str = "public",
    in_reply_to: str | None = None,
) -> Record:
    return {
        "channel": channel,
        "external_id": external_id,
        "direction": "inbound",
        "visibility": visibility,
        "created_at": iso(at),
        "author": by,
        "text": text,
        "in_reply_to": in_reply_to,
        "brand_handle": BRAND_HANDLE,
        "entitlement": None,
    }


def brand_reply(channel: str, external_id: str, text: str, *, at: datetime, to: str) -> Record:
    """A reply the brand already sent (history), answering ``to`` on the same channel."""
    record = message(
        channel, external_id, text, by=author("acme-brand", BRAND_HANDLE, "Acme"), at=at
    )
    record.update(direction="outbound", in_reply_to=to)
    return record


# --- the stories ---------------------------------------------------------------------


def security_story(now: datetime, tag: str = "") -> list[Record]:
    jane = author(
        tagged("x-devjane", tag), handle_for("@devjane", tag), "Jane Park", followers=3_400
    )
    at = now - timedelta(minutes=25)
    return [message("x", tagged("story-security", tag), SECURITY_TEXT, by=jane, at=at)]


DANA_AUTHOR_ID = "x-dana-r"


def dana_author(tag: str = "") -> dict[str, Any]:
    return author(tagged(DANA_AUTHOR_ID, tag), handle_for("@dana_r", tag), "Dana R.", followers=87)


def dana_story(now: datetime, tag: str = "") -> list[Record]:
    """The public complaint, the brand asking for a DM, and the DM (same author id)."""
    tweet = tagged("story-dana-tweet", tag)
    start = now - timedelta(minutes=150)
    return [
        message(
            "x",
            tweet,
            "@AcmeSupport my 3 year old Acme dryer stopped heating, clothes come out wet. "
            "Pretty sure the heating element failed. Not impressed.",
            by=dana_author(tag),
            at=start,
        ),
        brand_reply(
            "x",
            tagged("story-dana-reply", tag),
            "Sorry to hear that, Dana. Please DM us the model and serial number and we'll "
            "get it sorted. ^JC",
            at=start + timedelta(minutes=12),
            to=tweet,
        ),
        message(
            "x",
            tagged("story-dana-dm", tag),
            "Following up by DM as asked: dryer model DR-550, bought March 2023, serial "
            "55-0192. The heating element is dead. My email is dana@example.com",
            by=dana_author(tag),
            at=start + timedelta(minutes=20),
            visibility="private",
        ),
    ]


def dana_email_record(now: datetime, case_reference: str, tag: str = "") -> Record:
    """Dana's e-mail with the repair booking; quoting the reference threads it into her case."""
    address = f"dana{tag}@example.com"
    return message(
        "email",
        f"<{tagged('story-dana-booking', tag)}@mail.example.com>",
        f"Subject: Re: {case_reference} dryer repair booking\n\n"
        "Hi, as discussed on X and by DM: the technician slot on Thursday morning works for "
        "me, booking confirmation attached.\n\nDana",
        by=author(address, address, "Dana R.", email=address),
        at=now - timedelta(minutes=90),
        visibility="private",
    )


DANA_CONFIRMATION = "Yes, the dryer works perfectly - thanks!"


def dana_confirmation_record(at: datetime, tag: str = "") -> Record:
    """Dana's DM answering "Is this fixed for you?". It is dated ``at``: the moment she
    answers, after the question went out (``dryer.py``)."""
    return message(
        "x",
        tagged("story-dana-fixed", tag),
        DANA_CONFIRMATION,
        by=dana_author(tag),
        at=at,
        visibility="private",
    )


def praise_story(now: datetime, tag: str = "") -> list[Record]:
    lena = author(tagged("fb-lena", tag), handle_for("lena.travels", tag), "Lena", followers=540)
    at = now - timedelta(minutes=60)
    return [message("facebook", tagged("story-praise", tag), PRAISE_TEXT, by=lena, at=at)]


def fairness_story(now: datetime, tag: str = "") -> list[Record]:
    """A quiet e-mail and a loud tweet about the same problem in the same minute."""
    at = (now - timedelta(minutes=40)).replace(second=0, microsecond=0)
    priya = f"priya{tag}@smallshop.example"
    loud = author(
        tagged("x-bigretail", tag), handle_for("@BigRetailCEO", tag), "Max", followers=200_000
    )
    return [
        message(
            "email",
            f"<{tagged('story-callback', tag)}@smallshop.example>",
            CALLBACK_TEXT,
            by=author(priya, priya, "Priya", followers=None, email=priya),
            at=at,
            visibility="private",
        ),
        message("x", tagged("story-angry", tag), ANGRY_TEXT, by=loud, at=at),
    ]


def spam_story(now: datetime, tag: str = "") -> list[Record]:
    at = now - timedelta(minutes=30)
    return [
        message(
            "instagram",
            tagged(f"story-spam-{n}", tag),
            SPAM_TEXT,
            by=author(tagged(f"ig-promo-{n}", tag), handle_for(f"promo_deals{n}", tag), "Deals"),
            at=at + timedelta(seconds=20 * n),
        )
        for n in range(SPAM_COPIES)
    ]


STORIES: dict[str, Callable[[datetime, str], list[Record]]] = {
    "security": security_story,
    "dana": dana_story,
    "praise": praise_story,
    "fairness": fairness_story,
    "spam": spam_story,
}


def story_records(now: datetime, tag: str = "") -> list[Record]:
    """Every story's records (Dana's e-mail comes later, see ``dana_email_record``)."""
    return [record for build in STORIES.values() for record in build(now, tag)]


# --- ordinary traffic ----------------------------------------------------------------

ORDINARY_TEXTS = (
    "Where is my order? Tracking says delivered but nothing arrived.",
    "I was charged twice for my air purifier subscription this month, can you refund one?",
    "The Acme app crashes every time I open the thermostat schedule on Android 14.",
    "Do you ship replacement filters for the AP-200 to Canada?",
    "Love my new Acme fan, quiet and powerful!",
    "How do I reset the wifi on my Acme air conditioner?",
    "My invoice shows the wrong billing address, how can I change it?",
    "The delivery driver left the washer in the rain. Box soaked.",
    "App keeps logging me out after the last update, iPhone 15.",
    "Is the dehumidifier DH-30 compatible with the Acme Home app?",
    "Ordered a fridge 3 weeks ago and still no delivery date.",
    "Can I pay my invoice by bank transfer?",
    "My Acme washer arrived with a dented door, can I get a replacement?",
    "Is there a student discount on the Acme air purifier?",
    "The Acme Home app crashes when I try to add a second air conditioner.",
    "Can you send me a copy of my last invoice? I need it for my taxes.",
    "When will the AP-200 filters be back in stock?",
    "My parcel has been stuck in the depot for five days, order 88341.",
    "Do you have a store in Lisbon where I can see the dehumidifiers?",
    "What does error code E4 on the dishwasher mean?",
    "Thanks @AcmeSupport for the quick replacement, very happy!",
    "The technician Tom fixed our air conditioner in 20 minutes, great job, thank you Tom!",
)
REPLY_TEXTS = (
    "Sorry for the trouble! Could you DM us your order number so we can check? ^JC",
    "Thanks for reaching out. We're looking into it and will update you shortly. ^SO",
    "Happy to help! Please send us the model number and we'll point you to the right guide. ^JC",
)
NAMES = ("Alex", "Sam", "Kim", "Noor", "Luca", "Ines", "Tariq", "Mei", "Olu", "Rosa", "Jon")


def ordinary_records(
    now: datetime, n: int, *, tag: str = "demo", spread: timedelta = timedelta(hours=3)
) -> list[Record]:
    """``n`` everyday messages across every channel, some answered by the brand.

    Deterministic for a given ``tag``; with ``spread`` zero everything is dated ``now``.
    """
    rng = random.Random(tag)
    records: list[Record] = []
    for i in range(n):
        last = records[-1] if records else None
        answerable = last and last["direction"] == "inbound" and last["channel"] in SOCIAL
        if last and answerable and rng.random() < 0.3:
            records.append(_reply_to(last, rng, f"{tag}-{i}", now))
            continue
        at = now - timedelta(seconds=rng.uniform(0, spread.total_seconds()))
        records.append(_ordinary(rng, f"{tag}-{i}", at))
    return records


def _ordinary(rng: random.Random, key: str, at: datetime) -> Record:
    channel = rng.choice(CHANNELS)
    name = rng.choice(NAMES)
    text = rng.choice(ORDINARY_TEXTS)
    if channel in ("email", "webform"):
        address = f"{name.lower()}.{key}@example.net"
        by = author(address if channel == "email" else f"form-{key}", address, name, email=address)
        return message(channel, f"<{key}@example.net>", text, by=by, at=at, visibility="private")
    if channel == "phone":
        phone = f"+1555{rng.randrange(10_000_000):07d}"
        by = author(phone, phone, name, phone=phone)
        return message(
            "phone", f"call-{key}", f"Call log: {text}", by=by, at=at, visibility="private"
        )
    followers = rng.choice((None, 12, 150, 980, 4_200, 51_000))
    by = author(f"{channel}-{key}", f"@{name.lower()}_{key}", name, followers=followers)
    return message(channel, f"{channel}-{key}", text, by=by, at=at)


def _reply_to(parent: Record, rng: random.Random, key: str, now: datetime) -> Record:
    asked = datetime.fromisoformat(parent["created_at"].replace("Z", "+00:00"))
    at = min(asked + timedelta(minutes=rng.randint(5, 40)), now)
    channel = parent["channel"]
    return brand_reply(
        channel, f"{channel}-reply-{key}", rng.choice(REPLY_TEXTS), at=at, to=parent["external_id"]
    )
