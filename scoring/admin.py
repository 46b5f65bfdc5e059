"""The admin: browse and search the event log, the dead letters, the projects and contributors.

Everything is read-only: an edited log row would make the boards disagree with the log. The one
change the admin makes is a contributor's exclusion, through the same service as the command.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html

from audit.services import audit_record, request_actor
from leaderboard_project.admin import ReadOnlyAdmin
from scoring import exclusions
from scoring.ingest.wire import raw_as_json
from scoring.models import ContributionEvent, Contributor, DeadLetter, Project, RulesVersion


def _who(contributor) -> str:
    """A contributor as the audit names it: login and id."""
    return f"{contributor.login} ({contributor.id})" if contributor.login else f"#{contributor.id}"


def _pre(text: str):
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)


class AppliedFilter(admin.SimpleListFilter):
    """Whether a row's points are on the boards: no row of it waits in the ledger."""

    title = "applied"
    parameter_name = "applied"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.applied()
        if self.value() == "no":
            return queryset.unapplied()
        return queryset


@admin.register(ContributionEvent)
class ContributionEventAdmin(ReadOnlyAdmin):
    list_display = [
        "event_id",
        "kind_name",
        "user_id",
        "project",
        "occurred_at",
        "points",
        "rules_version",
        "applied",
        "logged_at",
    ]
    list_filter = ["kind", AppliedFilter, ("occurred_at", admin.DateFieldListFilter)]
    search_fields = ["=event_id", "=user_id", "=project__id", "project__name"]
    date_hierarchy = "occurred_at"
    list_select_related = ["project", "unapplied"]
    show_full_result_count = False  # count(*) on a large log is slow
    readonly_fields = ["payload"]
    exclude = ["raw"]

    @admin.display(description="applied", boolean=True)
    def applied(self, obj):
        return obj.applied

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


class ExcludeForm(forms.Form):
    reason = forms.CharField(max_length=500, strip=True, help_text="Why: cheating, staff, opted out, ...")


@admin.register(Contributor)
class ContributorAdmin(ReadOnlyAdmin):
    """Read-only like the rest; excluding and including go through `scoring.exclusions`, which
    keeps every board exact (SPEC section 9)."""

    list_display = [
        "id",
        "login",
        "avatar",
        "is_bot",
        "excluded_reason",
        "excluded_at",
        "first_seen_at",
        "last_seen_at",
    ]
    list_filter = ["is_bot", ("excluded_reason", admin.EmptyFieldListFilter)]
    search_fields = ["login"]
    actions = ["exclude_contributors", "include_contributors"]

    def has_exclude_permission(self, request) -> bool:
        return request.user.has_perm("scoring.change_contributor")

    @admin.action(description="Exclude from every board…", permissions=["exclude"])
    def exclude_contributors(self, request, queryset):
        form = ExcludeForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Exclude contributors from every board",
                "contributors": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/scoring/contributor/exclude.html", context)
        boards = 0
        reason = form.cleaned_data["reason"]
        for contributor in queryset:
            done = exclusions.contributor_exclude(contributor, reason=reason)
            boards += done.boards
            audit_record(
                actor=request_actor(request),
                via="admin",
                action="exclude",
                target=_who(contributor),
                reason=reason,
                boards=done.boards,
            )
        self.message_user(request, f"Excluded {len(queryset)} contributors: off {boards} boards.", messages.SUCCESS)
        return None

    @admin.action(description="Include again on every board", permissions=["exclude"])
    def include_contributors(self, request, queryset):
        boards = 0
        excluded = [c for c in queryset if c.excluded]
        for contributor in excluded:
            done = exclusions.contributor_include(contributor)
            boards += done.boards
            actor = request_actor(request)
            audit_record(actor=actor, via="admin", action="include", target=_who(contributor), boards=done.boards)
        self.message_user(request, f"Included {len(excluded)} contributors: back on {boards} boards.", messages.SUCCESS)

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


@admin.register(RulesVersion)
class RulesVersionAdmin(ReadOnlyAdmin):
    """The scoring tables, one active (`rescore_leaderboards` changes which)."""

    list_display = ["number", "active", "created_at", "activated_at", "retired_at"]


from scoring.achievements import admin as achievements_admin  # noqa: E402, F401  (registers the achievements')
from scoring.results import admin as results_admin  # noqa: E402, F401  (registers the results' pages)
