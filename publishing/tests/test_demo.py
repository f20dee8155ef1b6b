"""The demo gives each author a posting schedule, once, and keeps one an editor changed."""

from __future__ import annotations

import pytest

from orchestrator.tests.factories import make_author
from publishing import demo, services
from publishing.models import PostingSchedule

pytestmark = pytest.mark.django_db


def test_the_demo_schedules_every_author_and_keeps_an_edited_schedule(tenant_a, in_tenant_a):
    ana, bruno = make_author(tenant=tenant_a, name="Ana"), make_author(tenant=tenant_a, name="Bruno")
    services.schedule_save(author=bruno, time_zone="UTC", slots=[{"weekday": 0, "time": "07:00"}])
    demo.seed(tenant=tenant_a)
    demo.seed(tenant=tenant_a)
    assert PostingSchedule.objects.get(author=ana).slots == demo.DEMO_SLOTS
    assert PostingSchedule.objects.get(author=bruno).slots == [{"weekday": 0, "time": "07:00"}]
    assert PostingSchedule.objects.count() == 2
