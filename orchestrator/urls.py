from django.urls import path

from orchestrator import flow_views, views

app_name = "orchestrator"

# Mounted under t/<slug:tenant_slug>/work/ by config/urls.py; TenantMiddleware enforces roles.
urlpatterns = [
    path("new/", views.flow_new, name="flow_new"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/events/", views.run_events, name="run_events"),
    path("runs/<int:run_id>/regenerate/", views.run_regenerate, name="run_regenerate"),
    path("drafts/", views.draft_queue, name="drafts"),
    path("drafts/next/", views.draft_next, name="draft_next"),
    path("drafts/approve/", views.drafts_bulk_approve, name="drafts_bulk_approve"),
    path("drafts/<int:draft_id>/", views.draft_detail, name="draft"),
    path("drafts/<int:draft_id>/claim/", views.draft_claim, name="draft_claim"),
    path("drafts/<int:draft_id>/release/", views.draft_release, name="draft_release"),
    path("drafts/<int:draft_id>/edit/", views.draft_edit, name="draft_edit"),
    path("drafts/<int:draft_id>/approve/", views.draft_approve, name="draft_approve"),
    path("drafts/<int:draft_id>/reject/", views.draft_reject, name="draft_reject"),
    path("drafts/<int:draft_id>/changes/", views.draft_request_changes, name="draft_changes"),
    path("drafts/<int:draft_id>/assign/", views.draft_assign, name="draft_assign"),
    path("learnings/", views.learnings, name="learnings"),
    path("learnings/<int:proposal_id>/accept/", views.learning_accept, name="learning_accept"),
    path("learnings/<int:proposal_id>/dismiss/", views.learning_dismiss, name="learning_dismiss"),
    path("series/", views.series_list, name="series_list"),
    path("series/new/", views.series_new, name="series_new"),
    path("series/<int:series_id>/", views.series_edit, name="series"),
    path("series/<int:series_id>/toggle/", views.series_toggle, name="series_toggle"),
    path("series/<int:series_id>/run/", views.series_run, name="series_run"),
    path("flows/", flow_views.flow_list, name="flow_list"),
    path("flows/new/", flow_views.flow_create, name="flow_create"),
    path("flows/check/", flow_views.flow_check, name="flow_check"),
    path("flows/diff/", flow_views.flow_diff, name="flow_diff"),
    path("flows/secrets/", flow_views.flow_secrets, name="flow_secrets"),
    path("flows/<int:flow_id>/", flow_views.flow_detail, name="flow"),
    path("flows/<int:flow_id>/edit/", flow_views.flow_edit, name="flow_edit"),
    path("flows/<int:flow_id>/activate/", flow_views.flow_activate, name="flow_activate"),
    path("flows/<int:flow_id>/dry-run/", flow_views.flow_dry_run_view, name="flow_dry_run"),
]
