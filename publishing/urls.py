from django.urls import path

from publishing import views

app_name = "publishing"

# Mounted under t/<slug:tenant_slug>/publishing/ by config/urls.py; TenantMiddleware enforces roles.
urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("queue/", views.queue, name="queue"),
    path("drafts/<int:draft_id>/", views.draft_post, name="draft"),
    # A draft is on the calendar at most once: its post is addressed through it.
    path("drafts/<int:draft_id>/move/", views.post_move, name="post_move"),
    path("drafts/<int:draft_id>/retry/", views.post_retry, name="post_retry"),
    path("drafts/<int:draft_id>/cancel/", views.post_cancel, name="post_cancel"),
    path("drafts/<int:draft_id>/delivered/", views.post_delivered, name="post_delivered"),
    path("authors/<int:author_id>/", views.author_page, name="author"),
    path("authors/<int:author_id>/linkedin/connect/", views.linkedin_connect, name="linkedin_connect"),
    path(
        "authors/<int:author_id>/linkedin/disconnect/", views.linkedin_disconnect, name="linkedin_disconnect"
    ),
    path("authors/<int:author_id>/metrics/pull/", views.metrics_pull, name="metrics_pull"),
    path("authors/<int:author_id>/series/<int:series_id>/plan/", views.series_plan, name="series_plan"),
    path("results/", views.results, name="results"),
    path("export/", views.export_posts, name="export"),
]
