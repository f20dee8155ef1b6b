"""Demo data for publishing, run by `seed_demo` once per demo tenant (inside its scope): each author
gets a posting schedule (Tuesday and Thursday at 09:00, Lisbon time, published by hand or a CRM), so
the calendar shows free slots and an approved draft's Schedule button has slots to fill."""

from __future__ import annotations

from authors.models import Author
from publishing.models import Channel, PostingSchedule
from publishing.services import schedule_save
from tenants.models import Tenant

DEMO_SLOTS = [{"weekday": 1, "time": "09:00"}, {"weekday": 3, "time": "09:00"}]


def seed(*, tenant: Tenant) -> None:
    for author in Author.objects.filter(is_active=True):
        if not PostingSchedule.objects.filter(author=author).exists():  # an edited schedule is kept
            schedule_save(
                author=author, time_zone="Europe/Lisbon", slots=DEMO_SLOTS, channel=Channel.EXTERNAL
            )
