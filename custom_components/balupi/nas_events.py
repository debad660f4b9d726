"""NAS events: which of the NAS's notifications are new, and which need a person.

Pure logic without Home Assistant imports. The coordinator lists the NAS's
notifications changed since the last listing (``updated_after``); this module
picks the ones not seen before and tells which repair issue each one raises
or clears.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .baluhost import Notification
from .const import (
    ISSUE_NAS_BACKUP_FAILED,
    ISSUE_NAS_DISK_FAILING,
    ISSUE_NAS_RAID_DEGRADED,
)

# BaluHost's event types that need a person, by the repair issue they raise...
RAISES: Final = {
    "raid.degraded": ISSUE_NAS_RAID_DEGRADED,
    "raid.failed": ISSUE_NAS_RAID_DEGRADED,
    "smart.failure": ISSUE_NAS_DISK_FAILING,
    "backup.failed": ISSUE_NAS_BACKUP_FAILED,
}
# ...and the ones by which the NAS says it is over.
CLEARS: Final = {
    "raid.rebuilt": ISSUE_NAS_RAID_DEGRADED,
    "raid.sync_complete": ISSUE_NAS_RAID_DEGRADED,
    "backup.completed": ISSUE_NAS_BACKUP_FAILED,
}
# Notifications remembered as seen (the NAS stamps changes to the second, so a
# listing repeats the last second's).
MAX_SEEN: Final = 500


@dataclass(frozen=True, slots=True)
class IssueChange:
    """A repair issue to raise (with the notification's text) or clear."""

    issue: str
    active: bool
    message: str


def event_type(notification: Notification) -> str:
    """Return the event's type: BaluHost's key, or its category for hand-made ones."""
    return notification.event_type or notification.category


class EventFeed:
    """The notifications seen so far, from a starting point on."""

    def __init__(self, since: datetime) -> None:
        """Take only notifications created after ``since`` as new."""
        self.cursor = since
        # The NAS stamps to the second: one made in the same second counts.
        self._since = since.replace(microsecond=0)
        self._seen: dict[int, None] = {}
        # The notification behind each raised issue: read on the NAS, it is over.
        self._raised_by: dict[str, int] = {}

    def take(self, listing: Iterable[Notification]) -> list[Notification]:
        """Return the new notifications of a listing, oldest first."""
        new = []
        for item in sorted(listing, key=lambda item: (item.created_at, item.id)):
            self.cursor = max(self.cursor, item.updated_at)
            if item.id in self._seen or item.created_at < self._since:
                continue
            self._seen[item.id] = None
            new.append(item)
        while len(self._seen) > MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        return new

    def issue_changes(
        self, new: Iterable[Notification], listing: Iterable[Notification]
    ) -> list[IssueChange]:
        """Return the issues the new notifications raise or clear, in order.

        An issue is also over once its notification was read on the NAS.
        """
        changes = []
        for item in new:
            kind = event_type(item)
            if issue := RAISES.get(kind):
                self._raised_by[issue] = item.id
                changes.append(IssueChange(issue, active=True, message=item.message))
            elif issue := CLEARS.get(kind):
                self._raised_by.pop(issue, None)
                changes.append(IssueChange(issue, active=False, message=item.message))
        for item in listing:
            for issue, raised_by in list(self._raised_by.items()):
                if item.id == raised_by and item.is_read:
                    del self._raised_by[issue]
                    changes.append(
                        IssueChange(issue, active=False, message=item.message)
                    )
        return changes
