"""Django admin for retention policies and the reports of retention and erasure (reports are read-only)."""

from django.contrib import admin

from privacy.models import ErasureReport, RetentionPolicy, RetentionReport


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "tenant",
        "trace_body_days",
        "cache_entry_days",
        "rejected_draft_days",
        "finished_run_days",
    ]


class ReportAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RetentionReport)
class RetentionReportAdmin(ReportAdmin):
    list_display = ["ran_at", "tenant", "manual", "removed"]
    list_filter = ["tenant", "manual"]


@admin.register(ErasureReport)
class ErasureReportAdmin(ReportAdmin):
    list_display = ["at", "kind", "subject_label", "tenant", "actor_label"]
    list_filter = ["kind"]
