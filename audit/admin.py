from django.contrib import admin

from audit.models import AuditRecord
from leaderboard_project.admin import ReadOnlyAdmin


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "via", "action", "target"]
    list_filter = ["action", "via"]
    search_fields = ["actor", "target"]
    date_hierarchy = "at"
