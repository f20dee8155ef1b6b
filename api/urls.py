"""/api/v1/: the REST API for CRM integrations (mounted by config/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from api.views import audit, content, privacy, publishing, usage, work

app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("authors", content.AuthorViewSet, basename="author")
router.register("memories", content.MemoryViewSet, basename="memory")
router.register("prompts", content.PromptTemplateViewSet, basename="prompt")
router.register("prompt-versions", content.PromptVersionViewSet, basename="prompt-version")
router.register("generations", work.GenerationViewSet, basename="generation")
router.register("drafts", work.DraftViewSet, basename="draft")
router.register("traces", usage.TraceViewSet, basename="trace")
router.register("posts", publishing.PostViewSet, basename="post")
router.register("audit", audit.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("flows", work.FlowList.as_view(), name="flows"),
    path("usage", usage.UsageView.as_view(), name="usage"),
    path("export", privacy.ExportView.as_view(), name="export"),
    *router.urls,
]
