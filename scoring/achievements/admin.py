"""The achievements in the admin, read-only: awarded and revoked only by the sweep and a rescore."""

from django.contrib import admin

from leaderboard_project.admin import ReadOnlyAdmin
from scoring.achievements.models import Achievement
from scoring.achievements.rules import TITLES


@admin.register(Achievement)
class AchievementAdmin(ReadOnlyAdmin):
    list_display = ["user_id", "title", "earned_at", "event", "result", "awarded_at", "revoked"]
    list_filter = ["code", ("revoked", admin.EmptyFieldListFilter)]
    search_fields = ["=user_id", "=code"]
    ordering = ["-earned_at", "-id"]
    list_select_related = ["event", "result"]

    @admin.display(description="achievement", ordering="code")
    def title(self, achievement: Achievement) -> str:
        return TITLES.get(achievement.code, achievement.code)
