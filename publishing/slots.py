"""Posting slots: weekday times in an author's time zone, turned into the instants they fall on.

Pure functions (no database): the services pass in which instants are already taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_SLOTS = 50
HORIZON = timedelta(weeks=26)  # how far ahead "the next free slot" is looked for
_SLOT_TEXT = re.compile(r"^(?P<day>[A-Za-z]{3})[a-z]*\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})$")


@dataclass(frozen=True, order=True)
class Slot:
    weekday: int  # Monday is 0
    at: time

    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.at:%H:%M}"

    def as_json(self) -> dict:
        return {"weekday": self.weekday, "time": f"{self.at:%H:%M}"}


def zone(name: str) -> ZoneInfo:
    """The IANA time zone, or a ValidationError that names the problem."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError(
            {"time_zone": f"{name!r} is not a time zone; use an IANA name such as Europe/Lisbon."}
        ) from exc


def clean_slots(raw: Iterable) -> list[Slot]:
    """Slots from [{"weekday": 0..6, "time": "HH:MM"}]: validated, without duplicates, sorted."""
    slots: set[Slot] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"weekday", "time"}:
            raise ValidationError({"slots": f"Slot {index + 1}: give a weekday (0-6) and a time (HH:MM)."})
        weekday, text = item["weekday"], item["time"]
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise ValidationError({"slots": f"Slot {index + 1}: the weekday is 0 (Monday) to 6 (Sunday)."})
        slots.add(Slot(weekday, _time_of(text, index)))
    if len(slots) > MAX_SLOTS:
        raise ValidationError({"slots": f"At most {MAX_SLOTS} slots a week."})
    return sorted(slots)


def _time_of(text: object, index: int) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValidationError({"slots": f"Slot {index + 1}: the time is HH:MM, 00:00 to 23:59."})
    return time(int(match[1]), int(match[2]))


def parse_slots_text(text: str) -> list[dict]:
    """ "Mon 09:00, Wed 12:30" (commas or lines) as slot dicts; a clear error names the bad part."""
    parts = [part.strip() for part in re.split(r"[,\n;]+", text) if part.strip()]
    result = []
    for part in parts:
        match = _SLOT_TEXT.match(part)
        day = match["day"].capitalize() if match else ""
        if match is None or day not in WEEKDAYS:
            raise ValidationError({"slots": f"{part!r}: write a day and a time, like “Tue 09:30”."})
        result.append({"weekday": WEEKDAYS.index(day), "time": f"{int(match['hour']):02d}:{match['minute']}"})
    return result


def slots_text(slots: Iterable[Slot]) -> str:
    return ", ".join(slot.label() for slot in slots)


def slot_instants(slots: list[Slot], tz: ZoneInfo, *, after: datetime, until: datetime) -> Iterator[datetime]:
    """Every instant a slot falls on, strictly after `after` and before `until`, in order (UTC).

    A slot in a gap of a daylight-saving change (02:30 on the night clocks skip it) falls on the
    instant that wall time maps to, as zoneinfo reads it: it still happens once that day."""
    by_day: dict[int, list[time]] = {}
    for slot in slots:
        by_day.setdefault(slot.weekday, []).append(slot.at)
    day: date = after.astimezone(tz).date()
    last: date = until.astimezone(tz).date()
    while day <= last:
        for at in by_day.get(day.weekday(), []):
            instant = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
            if after < instant < until:
                yield instant
        day += timedelta(days=1)


def next_free(slots: list[Slot], tz: ZoneInfo, *, after: datetime, taken: set[datetime]) -> datetime | None:
    """The first slot instant after `after` that no live post holds; None when none is free."""
    for instant in slot_instants(slots, tz, after=after, until=after + HORIZON):
        if instant not in taken:
            return instant
    return None
