"""A storm record lists its newest alarms and counts the rest, so a long storm stays one item
the store can hold (DynamoDB: 400 KB) however long and strange the alarms' text is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.incidents.messages import storm_message
from bot.incidents.records import STORM_LISTED, StormEntry, StormRecord
from tests.incidents.conftest import make_alarm

FIXED_NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def _storm(names: list[str], *, listed: int = STORM_LISTED, **fields: str) -> StormRecord:
    record = StormRecord("C1", "1.0", FIXED_NOW, [])
    for n, name in enumerate(names):
        when = FIXED_NOW + timedelta(seconds=n)
        record = record.joined(StormEntry.of(make_alarm(when, name=name, **fields)), when, listed)
    return record


def test_a_storm_record_lists_the_newest_alarms_and_counts_the_earlier_ones() -> None:
    names = [f"svc-{n:02d}-5xx" for n in range(12)]
    record = _storm(names, listed=5)
    again = record.joined(StormEntry.of(make_alarm(FIXED_NOW, name=names[-1])), FIXED_NOW, 5)

    assert [e.name for e in record.entries] == names[7:]
    assert (record.earlier, record.count) == (7, 12)
    assert again.count == 12, "an alarm listed already is listed once"
    assert StormRecord.from_json(record.to_json()) == record


def test_a_storm_of_two_thousand_long_non_ascii_alarms_is_one_storable_item() -> None:
    names = [f"{n:04d}" + "🔥" * 251 for n in range(2000)]  # 255 characters, CloudWatch's most
    record = _storm(names, reason="💥" * 1023)

    assert record.count == 2000
    assert len(record.to_json().encode()) < 400_000 * 0.6, "well inside DynamoDB's item limit"


def test_the_storm_message_counts_the_alarms_it_no_longer_lists() -> None:
    record = _storm([f"svc-{n:02d}-5xx" for n in range(12)], listed=5)
    text = storm_message(
        record.entries,
        earlier=record.earlier,
        playbook="web",
        threshold=5,
        window=timedelta(minutes=10),
    )
    head, listing = (block["text"]["text"] for block in text.blocks[:2])

    assert "12 more alarms" in head
    assert listing.splitlines()[0] == "… 7 earlier alarms, in the thread"
    assert "svc-06-5xx" not in listing and "svc-07-5xx" in listing
