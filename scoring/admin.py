"""The admin: browse and search the event log, the dead letters, the projects and contributors.

Everything is read-only: an edited log row would make the boards disagree with the log.
"""

from django.contrib import admin
from django.utils.html import format_html

from leaderboard_project.admin import ReadOnlyAdmin
from scoring.models import ContributionEvent, Contributor, DeadLetter, Project
from scoring.wire import raw_as_json


def _pre(text: str):
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)


@admin.register(ContributionEvent)
class ContributionEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "kind_name", "user_id", "project", "occurred_at", "points", "applied", "logged_at"]
    list_filter = ["kind", "applied", ("occurred_at", admin.DateFieldListFilter)]
    search_fields = ["=event_id", "=user_id", "=project__id", "project__name"]
    date_hierarchy = "occurred_at"
    list_select_related = ["project"]
    show_full_result_count = False  # count(*) on a large log is slow
    readonly_fields = ["payload"]
    exclude = ["raw"]

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, obj):
        return obj.get_kind_display()

    @admin.display(description="message as received")
    def payload(self, obj):
        return _pre(raw_as_json(obj.raw))

    def get_search_results(self, request, queryset, search_term):
        # user and project ids are numbers: a non-numeric term must not reach those columns
        if search_term and not search_term.isdigit():
            return queryset.filter(event_id=search_term) | queryset.filter(project__name__icontains=search_term), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ["id", "reason", "stream_sequence", "subject", "received_at"]
    search_fields = ["reason", "=stream_sequence", "=digest"]
    date_hierarchy = "received_at"
    readonly_fields = ["message", "raw_hex"]
    exclude = ["raw"]

    @admin.display(description="message")
    def message(self, obj):
        return _pre(raw_as_json(obj.raw))

    @admin.display(description="raw bytes (hex)")
    def raw_hex(self, obj):
        return _pre(bytes(obj.raw).hex(" "))


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "event_count", "first_seen_at", "last_seen_at"]
    search_fields = ["=id", "name"]


@admin.register(Contributor)
class ContributorAdmin(ReadOnlyAdmin):
    list_display = ["id", "login", "avatar", "is_bot", "first_seen_at", "last_seen_at"]
    list_filter = ["is_bot"]
    search_fields = ["login"]

    @admin.display(description="avatar")
    def avatar(self, obj):
        if not obj.avatar_url.startswith("https://"):
            return ""
        return format_html("<img src='{}' alt='' width='24' height='24'>", obj.avatar_url)

    def get_search_results(self, request, queryset, search_term):
        # a number is an id as well as (part of) a login
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.isdigit() and len(search_term) <= 20:
            found |= queryset.filter(id=int(search_term))
        return found, duplicates
