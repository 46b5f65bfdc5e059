"""Read-only admin for snapshots: what each holds and where in the log it stands.

Snapshots are written only by `snapshot_leaderboards`; editing one by hand would make a restore
inexact, so nothing here adds, changes or deletes.
"""

from django.contrib import admin
from django.db import connection
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from leaderboard_project.admin import ReadOnlyAdmin
from snapshots.models import Snapshot, SnapshotBoard

TOP = 10


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "events", "boards", "entries", "duration_ms", "based_on"]
    list_display_links = ["id", "created_at"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "created_at",
        "pg_snapshot",
        "retained_from",
        "based_on",
        "events",
        "boards",
        "entries",
        "duration_ms",
        "boards_link",
    ]
    readonly_fields = fields

    @admin.display(description="Its boards")
    def boards_link(self, obj: Snapshot) -> str:
        url = reverse("admin:snapshots_snapshotboard_changelist")
        return format_html('<a href="{}?snapshot__id__exact={}">browse its {} boards</a>', url, obj.id, obj.boards)


@admin.register(SnapshotBoard)
class SnapshotBoardAdmin(ReadOnlyAdmin):
    list_display = ["snapshot", "project_id", "timeframe", "period", "members"]
    list_filter = ["timeframe", "snapshot"]
    search_fields = ["=project_id", "period"]
    list_select_related = ["snapshot"]
    # The arrays can hold a million members: show the top of the board, never the whole of it.
    fields = ["snapshot", "project_id", "timeframe", "period", "members", "top"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("user_ids", "scores")

    @admin.display(description=f"Top {TOP}")
    def top(self, obj: SnapshotBoard) -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT u.user_id, u.score FROM snapshots_snapshotboard b"
                " CROSS JOIN LATERAL unnest(b.user_ids, b.scores) AS u(user_id, score)"
                " WHERE b.id = %s ORDER BY u.score DESC, u.user_id LIMIT %s",
                [obj.pk, TOP],
            )
            ranked = cursor.fetchall()
        return format_html_join("", "<div>user {}: {}</div>", ranked)
