"""The pages (SPEC §11): thin views over `scoring.selectors` (through `web.board` for the
board's rows). They work without JavaScript; `static/web/live.js` only makes a board live.
"""

from __future__ import annotations

import functools
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from api.bounds import U64_MAX
from api.query import (
    PAGE,
    PROJECT_ID,
    TIMEFRAME,
    USER_ID,
    BoardQuery,
    Invalid,
    QueryError,
    Whole,
    board_query_parse,
    query_parse,
)
from leaderboard_project.errors import DependencyUnavailable
from scoring import clock
from scoring.achievements.selectors import contributor_achievements, contributor_streaks
from scoring.boards import GLOBAL, Board, Timeframe, period_of, period_shift
from scoring.redis_boards import RESULTS_KEY
from scoring.results.finalize import RESULT_TIMEFRAMES
from scoring.results.selectors import results_latest, user_placings
from scoring.rules import EventKind
from scoring.selectors import (
    contributor_find,
    project_list,
    user_events,
    user_is_excluded,
    user_points_by_kind,
    user_points_per_day,
    user_projects,
    user_standing,
)
from web.board import PAGE_SIZE, TIMEFRAME_LABELS, board_url, board_view, contributor_display, next_period
from web.chart import points_chart
from web.results import last_winners, placings_display, result_display

PROJECTS_LISTED = 500  # the project selector; a deployment with more finds them by URL
RECENT_EVENTS = 25
CHART_DAYS = 90
RESULTS_PAGE_SIZE = 10  # periods on a page of the hall of fame
RESULTS_TIMEFRAME = Timeframe.WEEKLY  # the hall of fame's first tab


# The project selector's form names a project (0: the global board) and the timeframe shown.
PROJECT_PICKED = Whole("project", "The project picked in the selector.", {}, minimum=0, maximum=U64_MAX)
PAGE_PARAMS = ("timeframe", "period", "page")


def _page_query(request: HttpRequest, project_id: str | None, now: datetime) -> BoardQuery:
    """The board and the 1-based page a page's URL names, read by the API's parser. A page's
    links and forms may leave a field empty or add one of their own (a search's `q`): an empty
    field is absent, another parameter is not the page's to judge."""
    params = {name: [values[-1]] for name, values in request.GET.lists() if name in PAGE_PARAMS and values[-1]}
    path = {} if project_id is None else {"project_id": project_id}
    return board_query_parse(params, now=now, fields=(PAGE,), path=path)


def row_display(row: dict) -> dict:
    """A board row with what the template prints, worked out here: a page has 50 rows, and
    template logic per row (includes, `{% url %}`, filters) was most of a page's time."""
    login, user_id, move = row["login"], row["user_id"], row["move"]
    if row["new"]:
        kind = "new"
    elif move is None or move == 0:
        kind = "same"
    else:
        kind = "up" if move > 0 else "down"
    return {**row, **contributor_display(login, user_id), "move_kind": kind, "move_places": abs(move) if move else 0}


def stream_url(board: Board) -> str:
    query = {"timeframe": board.timeframe.value, "period": board.period}
    if board.project_id != GLOBAL:
        query["project_id"] = board.project_id
    return f"/v1/stream?{urlencode(query)}"


def _bad(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "web/error.html", {"title": "Bad request", "message": message}, status=400)


def unavailable_as_page(view):
    """A page whose reads hit a dependency that cannot answer now (the boards being restored)
    is a 503 page saying so, not an error."""

    @functools.wraps(view)
    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DependencyUnavailable as exc:
            response = render(request, "web/error.html", {"title": "Back soon", "message": exc.message}, status=503)
            response["Retry-After"] = "5"
            return response

    return page


@unavailable_as_page
def board(request: HttpRequest, project_id: str | None = None) -> HttpResponse:
    """`/` and `/projects/<id>`: one board, one page, with tabs, periods and a project selector."""
    now = clock.now()
    try:
        picked = request.GET.get("project")
        chosen = query_parse({"project": [picked]}, (PROJECT_PICKED,)).get("project") if picked else None
        path = {"project_id": project_id} if project_id is not None else None
        scope = query_parse({}, (PROJECT_ID,), path).get("project_id", GLOBAL)
        if chosen is not None and chosen != scope:  # the selector's form, submitted without JavaScript
            kept = {key: value for key, value in request.GET.items() if key in ("timeframe",)}
            target = reverse("web:board") if chosen == GLOBAL else reverse("web:project", args=[chosen])
            return redirect(f"{target}?{urlencode(kept)}" if kept else target)
        query = _page_query(request, project_id, now)
    except QueryError as exc:
        return _bad(request, exc.message)
    shown, page = query.board, query.page
    view = board_view(board=shown, offset=(page - 1) * PAGE_SIZE, now=now)
    pages = max(1, -(-view.total // PAGE_SIZE))
    projects = list(project_list()[:PROJECTS_LISTED])
    project = next((p for p in projects if int(p.id) == scope), None)
    if scope != GLOBAL and project is None and view.total == 0:
        return render(request, "web/error.html", {"title": "Not found", "message": f"No project {scope}."}, status=404)
    previous = period_shift(shown.timeframe, shown.period, -1)
    following = next_period(shown, now=now)
    context = {
        "board": shown,
        "view": view,
        "rows": [row_display(row) for row in view.rows],
        "title": (project.name or f"Project {scope}") if project else "Leaderboard",
        "project": project,
        "projects": projects,
        "scope": scope,
        "tabs": [
            {
                "label": TIMEFRAME_LABELS[timeframe],
                "url": board_url(Board(scope, timeframe, period_of(timeframe, now)), timeframe_only=True),
                "current": timeframe is shown.timeframe,
            }
            for timeframe in Timeframe
        ],
        "is_current_period": shown.period == period_of(shown.timeframe, now),
        "current_url": board_url(Board(scope, shown.timeframe, period_of(shown.timeframe, now)), timeframe_only=True),
        "previous_url": board_url(Board(scope, shown.timeframe, previous)) if previous else None,
        "previous_period": previous,
        "next_url": board_url(Board(scope, shown.timeframe, following)) if following else None,
        "next_period": following,
        "page": page,
        "pages": pages,
        "page_previous_url": board_url(shown, page=page - 1) if page > 1 else None,
        "page_next_url": board_url(shown, page=page + 1) if page < pages else None,
        "live": page == 1,
        "stream_url": stream_url(shown),
        "winners": last_winners(board=shown),
        "results_url": _results_url(shown.timeframe if shown.timeframe in RESULT_TIMEFRAMES else None, scope),
    }
    response = render(request, "web/board.html", context)
    # The response cache keeps the page until one of its boards changes, or a result is recorded.
    response.page_boards = view.boards | {RESULTS_KEY}
    return response


def _results_url(timeframe: Timeframe | None, scope: int, page: int = 1) -> str:
    query: dict[str, object] = {"timeframe": timeframe.value} if timeframe else {}
    if scope != GLOBAL:
        query["project_id"] = scope
    if page > 1:
        query["page"] = page
    return f"{reverse('web:results')}?{urlencode(query)}" if query else reverse("web:results")


@unavailable_as_page
def hall_of_fame(request: HttpRequest) -> HttpResponse:
    """`/results`: the recorded results of a timeframe (tabs), newest period first, paginated;
    `project_id` for a project's."""
    try:
        fields = (TIMEFRAME, PAGE, PROJECT_ID)  # as on a board page, an empty field is absent, another ignored
        params = {name: [values[-1]] for name, values in request.GET.lists() if values[-1]}
        values = query_parse({name: params[name] for name in params.keys() & {f.name for f in fields}}, fields)
    except QueryError as exc:
        return _bad(request, exc.message)
    timeframe = values.get("timeframe", RESULTS_TIMEFRAME)
    if timeframe not in RESULT_TIMEFRAMES:
        return _bad(request, "All time never ends, so it has no results: pick a year, month, week or day.")
    scope, page = values.get("project_id", GLOBAL), values["page"]
    total, found = results_latest(
        timeframe=timeframe, project_id=scope, limit=RESULTS_PAGE_SIZE, offset=(page - 1) * RESULTS_PAGE_SIZE
    )
    project = project_list().filter(id=scope).first() if scope != GLOBAL else None
    pages = max(1, -(-total // RESULTS_PAGE_SIZE))
    context = {
        "title": "Hall of fame",
        "scope_name": (project.name if project else None)
        or (f"Project {scope}" if scope != GLOBAL else "All projects"),
        "scope_url": board_url(Board(scope, Timeframe.ALL_TIME, "all")),
        "timeframe_label": TIMEFRAME_LABELS[timeframe],
        "total": total,
        "results": [result_display(result) for result in found],
        "tabs": [
            {"label": TIMEFRAME_LABELS[t], "url": _results_url(t, scope), "current": t is timeframe}
            for t in RESULT_TIMEFRAMES
        ],
        "page": page,
        "pages": pages,
        "page_previous_url": _results_url(timeframe, scope, page - 1) if page > 1 else None,
        "page_next_url": _results_url(timeframe, scope, page + 1) if page < pages else None,
    }
    response = render(request, "web/results.html", context)
    response.page_boards = frozenset({RESULTS_KEY})  # kept until a result is recorded
    return response


def contributor_search(request: HttpRequest) -> HttpResponse:
    """The search form: `?q=<login or id>` goes to that contributor's page."""
    wanted = (request.GET.get("q") or "").strip().lstrip("#@")
    if not wanted:
        return redirect("web:board")
    return redirect("web:contributor", key=wanted)


def _user_id(key: str) -> int | None:
    """A user id in decimal: a user with events but no contributor row yet (no actor known)."""
    try:
        return USER_ID.read(key)
    except Invalid:
        return None


@unavailable_as_page
def contributor(request: HttpRequest, key: str) -> HttpResponse:
    """`/contributors/<login or id>`: standings, streaks and achievements, the 90-day chart,
    points by kind, recent events."""
    found = contributor_find(key=key)
    user_id = int(found.id) if found is not None else _user_id(key)
    if user_id is None or user_is_excluded(user_id):  # SPEC section 9: the excluded have no page
        return render(
            request, "web/error.html", {"title": "Not found", "message": f"No contributor {key!r}."}, status=404
        )
    now = clock.now()
    standings = []
    for timeframe in Timeframe:
        found = user_standing(board=Board(GLOBAL, timeframe, period_of(timeframe, now)), user_id=user_id, now=now)
        standings.append({"label": TIMEFRAME_LABELS[timeframe], "period": period_of(timeframe, now), "found": found})
    if standings[0]["found"] is None:
        return render(
            request,
            "web/error.html",
            {"title": "Not found", "message": f"Contributor #{user_id} is on no board."},
            status=404,
        )
    projects = []
    for project in user_projects(user_id=user_id):
        found = user_standing(board=Board(int(project.id), Timeframe.ALL_TIME, "all"), user_id=user_id, now=now)
        if found is not None:
            projects.append({"project": project, "found": found})
    kinds = user_points_by_kind(user_id=user_id)
    context = {
        "user_id": user_id,
        "login": getattr(standings[0]["found"], "login", None),
        "avatar_url": getattr(standings[0]["found"], "avatar_url", None),
        "standings": standings,
        "projects": projects,
        "chart": points_chart(user_points_per_day(user_id=user_id, days=CHART_DAYS, now=now)),
        "kinds": [{"label": _kind_label(k.kind), "events": k.events, "points": k.points} for k in kinds],
        "kind_peak": max((k.points for k in kinds), default=0),
        "events": [
            {"event": event, "label": _kind_label(EventKind(event.kind))}
            for event in user_events(user_id=user_id, board=Board(GLOBAL, Timeframe.ALL_TIME, "all"))[:RECENT_EVENTS]
        ],
        "placings": placings_display(user_placings(user_id=user_id)),
        "streaks": contributor_streaks(user_id=user_id, today=now.date()),
        "achievements": contributor_achievements(user_id=user_id),
        "top_n": settings.RESULTS_TOP_N,
        "title": getattr(standings[0]["found"], "login", None) or f"Contributor #{user_id}",
        "badge": badge_embeds(request, getattr(standings[0]["found"], "login", None) or str(user_id)),
    }
    return render(request, "web/contributor.html", context)


def badge_embeds(request: HttpRequest, key: str) -> dict[str, str]:
    """How to embed `key`'s rank badge: the SVG's path, the Markdown for a README (the badge
    linking to the profile) and the shields.io URL, absolute on the host the page was asked from."""
    svg = reverse("badge-svg", args=[key])
    page = request.build_absolute_uri(reverse("web:contributor", args=[key]))
    shields = urlencode({"url": request.build_absolute_uri(reverse("badge", args=[key]))})
    return {
        "svg": svg,
        "markdown": f"[![rank]({request.build_absolute_uri(svg)})]({page})",
        "shields": f"https://img.shields.io/endpoint?{shields}",
    }


def _kind_label(kind: EventKind) -> str:
    return kind.name.replace("_", " ").capitalize()
