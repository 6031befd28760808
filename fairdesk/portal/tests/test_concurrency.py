"""Fifty guesses at once: the challenge locks after N, and at most N codes are evaluated.

Each thread has its own database connection and its own transactions, as fifty web
requests would: on PostgreSQL, and on SQLite's test database, a file (root conftest)
whose busy timeout queues writers as in production.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from fairdesk.portal import credentials, services
from fairdesk.portal.models import PortalChallenge, PortalLink, PortalSession
from fairdesk.portal.tests.conftest import Customer, code_of, open_and_ask, send_link
from fairdesk.workspaces.models import Agent

THREADS = 50

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every time a typed code is actually compared with the stored one."""
    seen: list[int] = []
    lock = threading.Lock()
    real = credentials.code_matches

    def counting(**kwargs: Any) -> bool:
        with lock:
            seen.append(1)
        return real(**kwargs)

    monkeypatch.setattr(credentials, "code_matches", counting)
    return seen


def _race(attempt: Callable[[], object]) -> list[str]:
    """Run ``attempt`` in THREADS threads released together; collect the outcomes."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            attempt()
            result = "session"
        except services.CodeRefused as refused:
            result = str(refused)
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _challenge(customer: Customer, agent: Agent) -> tuple[PortalLink, PortalChallenge]:
    sent, path = send_link(customer.case, agent)
    return sent.link, open_and_ask(Client(), path, customer.x)


def test_fifty_parallel_wrong_codes_lock_after_n_and_only_n_are_evaluated(
    dana: Customer, bob: Customer, agent: Agent, evaluations: list[int]
) -> None:
    link, challenge = _challenge(dana, agent)
    code = code_of(challenge)
    wrong = f"{(int(code) + 1) % 10**8:08d}"

    outcomes = _race(
        lambda: services.verify_code(link=link, challenge_id=challenge.public_id, code=wrong)
    )

    limit = services.MAX_CODE_ATTEMPTS
    assert len(outcomes) == THREADS
    assert len(evaluations) == limit
    assert PortalChallenge.objects.get(pk=challenge.pk).attempts == limit
    refused_unread = [o for o in outcomes if o == "Too many wrong codes. Ask for a new code."]
    assert len(refused_unread) == THREADS - limit
    assert "session" not in outcomes
    # Locked for good: the right code no longer opens anything.
    with pytest.raises(services.CodeRefused, match="Too many wrong codes"):
        services.verify_code(link=link, challenge_id=challenge.public_id, code=code)
    assert len(evaluations) == limit
    assert PortalSession.objects.count() == 0


def test_fifty_parallel_right_codes_open_one_session(
    dana: Customer, bob: Customer, agent: Agent, evaluations: list[int]
) -> None:
    link, challenge = _challenge(dana, agent)
    code = code_of(challenge)

    outcomes = _race(
        lambda: services.verify_code(link=link, challenge_id=challenge.public_id, code=code)
    )

    assert outcomes.count("session") == 1
    assert len(evaluations) <= services.MAX_CODE_ATTEMPTS
    assert PortalSession.objects.count() == 1
    assert PortalSession.objects.get().contact_id == dana.case.contact_id
