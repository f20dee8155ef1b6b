"""/api/v1/: the REST API for CRM integrations (mounted by config/urls.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from api.views import admin, audit, content, learning, planning, privacy, publishing, usage, work

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
router.register("series", planning.SeriesViewSet, basename="series")
router.register("schedules", planning.ScheduleViewSet, basename="schedule")
router.register("deliveries", planning.DeliveryViewSet, basename="delivery")
router.register("budgets", admin.BudgetViewSet, basename="budget")
router.register("webhooks", admin.WebhookViewSet, basename="webhook")
router.register("members", admin.MemberViewSet, basename="member")
router.register("invitations", admin.InvitationViewSet, basename="invitation")
router.register("learnings", learning.LearningViewSet, basename="learning")
router.register("experiments", learning.ExperimentViewSet, basename="experiment")

urlpatterns = [
    path("", include("api.views.flows")),  # flows and flow-secrets (api/views/flows.py)
    path("usage", usage.UsageView.as_view(), name="usage"),
    path("export", privacy.ExportView.as_view(), name="export"),
    *router.urls,
]
