"""Sets of people: stored and read back unchanged, and unions counted exactly."""

import random
import zlib

import numpy as np
import pytest

from fairdesk.insights import people


@pytest.mark.parametrize(
    "ids",
    [
        [],
        [0],
        [7],
        [1, 2, 3, 250, 251],
        [5, 300, 70_000],  # gaps of two and four bytes
        [3, 2**33, 2**62],  # a gap of eight bytes
    ],
)
def test_a_set_reads_back_unchanged(ids: list[int]) -> None:
    blob = people.encode(people.ids_of(ids))
    assert people.decode(blob).tolist() == ids
    assert people.decode(memoryview(blob)).tolist() == ids  # as some drivers return it


def test_the_gap_width_is_the_smallest_that_holds_the_largest_gap() -> None:
    assert people.encode(people.ids_of([1, 257]))[0] == 2  # a gap of 256
    assert people.encode(people.ids_of([1, 256]))[0] == 1  # a gap of 255
    assert people.encode(people.ids_of([1, 70_000]))[0] == 4


def test_dense_ids_are_stored_small() -> None:
    rng = np.random.default_rng(3)
    ids = np.unique(rng.integers(1, 400_000, 40_000))
    assert len(people.encode(ids)) < ids.size  # under a byte a person


def test_ids_must_be_sorted_distinct_and_not_negative() -> None:
    for bad in ([3, 1], [1, 1], [-1, 2]):
        with pytest.raises(ValueError):
            people.encode(np.array(bad, dtype=np.int64))


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x03" + zlib.compress(b"\x00"), b"\x01not zlib", b"\x02" + zlib.compress(b"\x01")],
    ids=["empty", "bad width", "not compressed", "torn gaps"],
)
def test_a_blob_that_is_not_a_set_is_refused(blob: bytes) -> None:
    with pytest.raises(people.BadSet):
        people.decode(blob)


@pytest.mark.parametrize("span", [people.MAX_SPAN, 10], ids=["flags", "sorted"])
def test_a_union_is_every_id_once(span: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(people, "MAX_SPAN", span)
    rng = random.Random(11)
    parts = [sorted(rng.sample(range(50, 500), rng.randrange(0, 60))) for _ in range(9)]
    found = people.union([people.ids_of(p) for p in parts])
    assert found.tolist() == sorted(set().union(*map(set, parts)))
    assert found.dtype == np.int64
    assert people.union([]).tolist() == []
    assert people.union([people.ids_of([]), people.ids_of([4])]).tolist() == [4]


def test_without_and_common() -> None:
    a, b = people.ids_of([1, 2, 5, 9]), people.ids_of([2, 3, 9])
    assert people.without(a, b).tolist() == [1, 5]
    assert people.common(a, b).tolist() == [2, 9]
