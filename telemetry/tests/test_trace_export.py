"""The trace explorer's CSV export: the explorer's filters, the tenant's own calls, no prompt text."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from gateway.models import Trace
from tenants.context import tenant_scope
from tenants.models import Role
from tenants.tests.factories import make_member

pytestmark = pytest.mark.django_db


def _trace(tenant, **fields) -> Trace:
    values = {"purpose": "post", "status": "ok", "model_alias": "standard-a", "prompt": [{"role": "user",
              "content": "secret brief"}], "response": "secret answer"} | fields  # fmt: skip
    with tenant_scope(tenant):
        return Trace.objects.create(tenant=tenant, **values)


def _export(client, tenant, query: str = ""):
    url = reverse("console:traces_csv", kwargs={"tenant_slug": tenant.slug})
    return client.get(f"{url}{query}")


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="traces-')
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_export_holds_the_tenants_calls_with_their_prompt_version_and_no_text(
    client_for, members_a, tenant_a, tenant_b
):
    mine = _trace(
        tenant_a, prompt_version_id=41, input_tokens=1000, output_tokens=5, cost_micros=3075, ttft_ms=420.5
    )
    theirs = _trace(tenant_b)
    rows = _rows(_export(client_for(members_a[Role.ADMIN]), tenant_a))
    assert [r["call_id"] for r in rows] == [str(mine.pk)]
    assert str(theirs.pk) not in str(rows)
    row = rows[0]
    assert (row["prompt_version_id"], row["model"], row["input_tokens"], row["cost"]) == (
        "41",
        "standard-a",
        "1000",
        "0.003075",
    )
    assert row["ttft_ms"] == "420.5"
    assert "secret" not in str(rows)  # prompt and response text stay in the console


def test_the_export_applies_the_explorers_filters(client_for, members_a, tenant_a):
    _trace(tenant_a, model_alias="small-a")
    wanted = _trace(tenant_a, model_alias="premium-a", status="error", error_code="all_models_failed")
    rows = _rows(_export(client_for(members_a[Role.ADMIN]), tenant_a, "?model=premium-a&status=error"))
    assert [r["call_id"] for r in rows] == [str(wanted.pk)]


def test_filters_it_cannot_read_are_refused_not_ignored(client_for, members_a, tenant_a):
    _trace(tenant_a)
    response = _export(client_for(members_a[Role.ADMIN]), tenant_a, "?status=bogus&since=yesterday")
    assert response.status_code == 400
    text = response.content.decode()
    assert "status" in text
    assert "since" in text


def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(client_for, members_a, tenant_a):
    _trace(tenant_a, step='=HYPERLINK("http://evil.example","x")')
    [row] = _rows(_export(client_for(members_a[Role.ADMIN]), tenant_a))
    assert row["step"].startswith("'=")


def test_only_admins_export_and_another_tenants_members_are_refused(
    client_for, members_a, tenant_a, tenant_b
):
    _trace(tenant_a)
    assert _export(client_for(members_a[Role.WRITER]), tenant_a).status_code == 403
    outsider = make_member(tenant=tenant_b, role=Role.ADMIN)
    assert _export(client_for(outsider), tenant_a).status_code in (403, 404)
