"""The reporting period ``[start, end)`` shared by the insights API and page."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 3660


class BadPeriod(ValueError):
    """The period cannot be used; the message says why, for the caller."""


def _utc(value: datetime) -> datetime:
    if timezone.is_naive(value):
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadPeriod("dates must lie between the years 1 and 9999 in UTC") from None


def resolve_period(
    start: datetime | None, end: datetime | None, *, days: int = DEFAULT_DAYS
) -> tuple[datetime, datetime]:
    """Fill in a missing bound (default: the last ``days`` days) and check the order.

    Naive datetimes are read as UTC; everything comes back in UTC.
    """
    end = _utc(end) if end else timezone.now()
    try:
        start = _utc(start) if start else end - timedelta(days=days)
    except OverflowError:
        raise BadPeriod("end is too early") from None
    if start >= end:
        raise BadPeriod("start must be before end")
    if end - start > timedelta(days=MAX_DAYS):
        raise BadPeriod(f"the period may span at most {MAX_DAYS} days")
    return start, end
