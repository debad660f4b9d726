"""Which of the NAS's notifications are new, and which repair issues they move."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from custom_components.balupi.baluhost import Notification, NotificationType
from custom_components.balupi.const import (
    ISSUE_NAS_BACKUP_FAILED,
    ISSUE_NAS_DISK_FAILING,
)
from custom_components.balupi.nas_events import (
    MAX_SEEN,
    EventFeed,
    IssueChange,
    event_type,
)

START = datetime(2026, 12, 4, 12, 0, 0, 500_000, tzinfo=UTC)


def note(
    number: int, kind: str | None, *, seconds: float = 1, is_read: bool = False
) -> Notification:
    moment = START + timedelta(seconds=seconds)
    return Notification(
        id=number,
        created_at=moment,
        updated_at=moment,
        category="system",
        notification_type=NotificationType.WARNING,
        priority=2,
        title="Title",
        message=f"message {number}",
        event_type=kind,
        is_read=is_read,
    )


def test_only_new_ones_once_oldest_first_from_the_same_second_on() -> None:
    feed = EventFeed(START)
    before = note(1, "backup.completed", seconds=-1)
    same_second = note(2, "backup.completed", seconds=-0.5)
    later = note(3, "raid.degraded", seconds=5)
    assert feed.take([later, same_second, before]) == [same_second, later]
    assert feed.take([later, same_second]) == []
    assert feed.cursor == later.updated_at


def test_hand_made_ones_are_typed_by_category() -> None:
    assert event_type(note(1, None)) == "system"
    assert event_type(note(1, "smart.failure")) == "smart.failure"


def test_raised_then_cleared_by_the_nas_or_by_reading_it_there() -> None:
    feed = EventFeed(START)
    failed, disk = note(1, "backup.failed"), note(2, "smart.failure")
    new = feed.take([failed, disk])
    assert feed.issue_changes(new, [failed, disk]) == [
        IssueChange(ISSUE_NAS_BACKUP_FAILED, active=True, message="message 1"),
        IssueChange(ISSUE_NAS_DISK_FAILING, active=True, message="message 2"),
    ]
    done = note(3, "backup.completed", seconds=9)
    read = replace(disk, is_read=True)
    new = feed.take([done, read])
    assert feed.issue_changes(new, [done, read]) == [
        IssueChange(ISSUE_NAS_BACKUP_FAILED, active=False, message="message 3"),
        IssueChange(ISSUE_NAS_DISK_FAILING, active=False, message="message 2"),
    ]
    # Over is over: read again, it clears nothing more.
    assert feed.issue_changes([], [read]) == []


def test_the_memory_of_seen_ones_is_bounded() -> None:
    feed = EventFeed(START)
    feed.take([note(number, "x") for number in range(MAX_SEEN + 10)])
    assert len(feed.take([note(MAX_SEEN + 5, "x")])) == 0
    assert feed.take([note(0, "x")]) == [note(0, "x")]
