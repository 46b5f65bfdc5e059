"""The results in the admin: the recorded results (read-only), the notification targets
(editable), and every delivery with every attempt (read-only)."""

from django.contrib import admin

from leaderboard_project.admin import ReadOnlyAdmin
from scoring.results.models import Delivery, DeliveryAttempt, NotificationTarget, PeriodResult


@admin.register(PeriodResult)
class PeriodResultAdmin(ReadOnlyAdmin):
    list_display = ["timeframe", "period", "project_id", "members", "total_points", "late_events", "final_at"]
    list_filter = ["timeframe"]
    search_fields = ["=period", "=project_id"]


@admin.register(NotificationTarget)
class NotificationTargetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "url", "timeframes", "project_ids", "enabled"]
    list_filter = ["kind", "enabled"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["started_at", "duration_ms", "status_code", "outcome", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["idempotency_key", "kind", "url", "state", "attempts", "next_attempt_at", "delivered_at"]
    list_filter = ["state", "kind"]
    search_fields = ["=idempotency_key", "url"]
    inlines = [AttemptInline]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ["delivery", "started_at", "status_code", "outcome", "duration_ms", "error"]
    list_filter = ["outcome"]
