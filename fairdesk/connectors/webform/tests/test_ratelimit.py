"""Rate limits: per client IP and per e-mail address, counted in the database."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from fairdesk.connectors.models import Channel, RateCounter, WebformSubmission
from fairdesk.connectors.webform import ratelimit
from fairdesk.connectors.webform.tests.conftest import ACME_IP, OTHER_IP, fields, post
from fairdesk.inbound.models import InboundEvent

LIMIT = ratelimit.Limit("test-scope", hits=3, window=timedelta(minutes=10))
NOW = datetime(2026, 11, 2, 9, 3, 20, tzinfo=UTC)


def test_sixth_submission_from_one_address_is_429_and_stores_nothing(webform: Channel) -> None:
    for n in range(5):
        assert post(webform, fields(email=f"c{n}@example.com")).status_code == 302

    data = fields(email="c5@example.com", message="Sixth <b>message</b>")
    response = post(webform, data)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 600
    html = response.content.decode()
    assert "Too many messages in a short time." in html
    assert "Sixth &lt;b&gt;message&lt;/b&gt;" in html  # the text is kept to copy
    assert InboundEvent.objects.count() == 5
    assert WebformSubmission.objects.count() == 5
    # Another client is not affected.
    assert post(webform, fields(email="c6@example.com"), ip=OTHER_IP).status_code == 302
    assert InboundEvent.objects.count() == 6


def test_sixth_submission_for_one_email_is_429_whatever_the_address(webform: Channel) -> None:
    for n in range(5):
        email = "Dana@Example.com" if n % 2 else "dana@example.com"
        assert post(webform, fields(email=email), ip=f"192.0.2.{n}").status_code == 302

    response = post(webform, fields(email="DANA@EXAMPLE.COM"), ip="192.0.2.99")

    assert response.status_code == 429
    assert InboundEvent.objects.count() == 5


def test_the_limit_spans_every_form(webform: Channel, globex_webform: Channel) -> None:
    for n in range(5):
        channel = webform if n % 2 else globex_webform
        assert post(channel, fields(email=f"c{n}@example.com")).status_code == 302

    assert post(webform, fields(email="c9@example.com"), ip=ACME_IP).status_code == 429


def test_honeypot_hits_count_towards_the_limit(webform: Channel) -> None:
    for _ in range(5):
        assert post(webform, fields(website="x")).status_code == 302

    assert post(webform, fields(website="x")).status_code == 429
    assert post(webform, fields()).status_code == 429
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_spend_counts_to_the_limit_then_refuses_until_the_window_ends() -> None:
    assert [ratelimit.spend(LIMIT, "203.0.113.7", now=NOW) for _ in range(3)] == [1, 2, 3]

    with pytest.raises(ratelimit.Throttled) as refused:
        ratelimit.spend(LIMIT, "203.0.113.7", now=NOW)

    # The window is 09:00-09:10; at 09:03:20 that is 400 s away (rounded up).
    assert refused.value.retry_after == 401
    assert ratelimit.spend(LIMIT, "198.51.100.23", now=NOW) == 1
    assert ratelimit.spend(LIMIT, "203.0.113.7", now=NOW + timedelta(minutes=7)) == 1


@pytest.mark.django_db
def test_a_new_window_removes_the_scopes_past_windows() -> None:
    other = ratelimit.Limit("other-scope", hits=3, window=timedelta(hours=1))
    ratelimit.spend(LIMIT, "a", now=NOW)
    ratelimit.spend(other, "a", now=NOW)

    ratelimit.spend(LIMIT, "b", now=NOW + timedelta(minutes=10))

    assert sorted(RateCounter.objects.values_list("scope", "window_start", "hits")) == [
        ("other-scope", datetime(2026, 11, 2, 9, 0, tzinfo=UTC), 1),
        ("test-scope", datetime(2026, 11, 2, 9, 10, tzinfo=UTC), 1),
    ]


@pytest.mark.django_db
def test_counters_store_keyed_hashes_not_addresses() -> None:
    ratelimit.spend(LIMIT, "203.0.113.7", now=NOW)

    key = RateCounter.objects.get().key
    assert key == ratelimit.keyed_hash("test-scope", "203.0.113.7")
    assert len(key) == 64
    assert "203.0.113.7" not in key
    assert ratelimit.keyed_hash("other-scope", "203.0.113.7") != key


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_from_many_connections_are_all_counted() -> None:
    """Eight requests at once, each on its own database connection and transaction:
    exactly the limit gets through and refused hits leave no trace."""
    barrier = threading.Barrier(8)
    outcomes: list[int | str] = []

    def hit() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                outcomes.append(ratelimit.spend(LIMIT, "203.0.113.7", now=NOW))
        except ratelimit.Throttled:
            outcomes.append("throttled")
        finally:
            connection.close()

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(o for o in outcomes if isinstance(o, int)) == [1, 2, 3]
    assert outcomes.count("throttled") == 5
    assert RateCounter.objects.get().hits == 3
