"""The results in the admin: the recorded results (read-only), the notification targets
(editable), and every delivery with every attempt (read-only)."""

from django.contrib import admin

from audit.services import audit_record, request_actor
from leaderboard_project.admin import ReadOnlyAdmin
from scoring.results.models import Delivery, DeliveryAttempt, NotificationTarget, PeriodResult


@admin.register(PeriodResult)
class PeriodResultAdmin(ReadOnlyAdmin):
    list_display = ["timeframe", "period", "project_id", "members", "total_points", "late_events", "final_at"]
    list_filter = ["timeframe"]
    search_fields = ["=period", "=project_id"]


TARGET_FIELDS = ("name", "kind", "url", "timeframes", "project_ids", "enabled")


def _fields(target: NotificationTarget) -> dict:
    return {name: getattr(target, name) for name in TARGET_FIELDS}


@admin.register(NotificationTarget)
class NotificationTargetAdmin(admin.ModelAdmin):
    """Editable; every add, change and delete is audited (who, when, the fields after it)."""

    list_display = ["__str__", "kind", "url", "timeframes", "project_ids", "enabled"]
    list_filter = ["kind", "enabled"]

    def _audit(self, request, action: str, target: NotificationTarget, **details) -> None:
        audit_record(actor=request_actor(request), via="admin", action=action, target=str(target), **details)

    def save_model(self, request, obj, form, change):
        before = _fields(NotificationTarget.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        after = _fields(obj)
        changed = {name: value for name, value in after.items() if before.get(name) != value}
        self._audit(request, "target_change" if change else "target_add", obj, id=obj.pk, changed=changed)

    def delete_model(self, request, obj):
        self._audit(request, "target_delete", obj, id=obj.pk, kind=obj.kind, url=obj.url)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._audit(request, "target_delete", obj, id=obj.pk, kind=obj.kind, url=obj.url)
        super().delete_queryset(request, queryset)


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
