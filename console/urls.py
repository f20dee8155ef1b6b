from django.urls import path

from console.views import audit, budgets, dashboard, privacy, routing, traces, webhooks

app_name = "console"

# Mounted under t/<slug:tenant_slug>/console/ by config/urls.py; every page needs MANAGE_TENANT.
urlpatterns = [
    path("", dashboard.index, name="index"),
    path("budgets/", budgets.budgets, name="budgets"),
    path("budgets/spend/", budgets.budget_spend, name="budget_spend"),
    path("budgets/<int:budget_id>/", budgets.budget_edit, name="budget"),
    path("budgets/<int:budget_id>/toggle/", budgets.budget_toggle, name="budget_toggle"),
    path("models/", routing.models_page, name="models"),
    path("models/providers/new/", routing.provider_new, name="provider_new"),
    path("models/providers/<int:provider_id>/", routing.provider_edit, name="provider"),
    path("models/new/", routing.llm_model_new, name="model_new"),
    path("models/<int:llm_model_id>/", routing.llm_model_edit, name="model"),
    path("models/routes/", routing.route_save, name="route_save"),
    path("models/routes/<int:route_id>/delete/", routing.route_delete, name="route_delete"),
    path("models/router/", routing.router_dial, name="router_dial"),
    path("models/router/rollback/", routing.router_rollback, name="router_rollback"),
    path("models/router/<int:router_artefact_id>/restore/", routing.router_restore, name="router_restore"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("traces/", traces.traces, name="traces"),
    path("traces/export.csv", traces.traces_csv, name="traces_csv"),
    path("traces/<uuid:trace_id>/", traces.trace_detail, name="trace"),
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/<int:webhook_id>/", webhooks.webhook_detail, name="webhook"),
    path("webhooks/<int:webhook_id>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:webhook_id>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:webhook_id>/test/", webhooks.webhook_test, name="webhook_test"),
    path("deliveries/<uuid:delivery_id>/", webhooks.delivery_detail, name="delivery"),
    path("deliveries/<uuid:delivery_id>/replay/", webhooks.delivery_replay, name="delivery_replay"),
    path("audit/", audit.audit_log, name="audit"),
    path("audit/export.csv", audit.audit_export, {"fmt": "csv"}, name="audit_csv"),
    path("audit/export.json", audit.audit_export, {"fmt": "json"}, name="audit_json"),
    path("privacy/retention/", privacy.retention, name="retention"),
    path("privacy/retention/run/", privacy.retention_run, name="retention_run"),
    path("privacy/erasure/", privacy.erasure, name="erasure"),
    path("privacy/erasure/tenant/", privacy.tenant_erasure, name="tenant_erasure"),
    path("privacy/export/", privacy.export, name="export"),
]
