"""What a delivery sends: the signed JSON of a `webhook`, the incoming-webhook JSON of `slack`
and `discord` (a short winners' message with links to the pages). Pure but for the result read."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

from scoring.boards import GLOBAL
from scoring.results.selectors import Result

SIGNATURE_HEADER = "X-Leaderboard-Signature-256"


def result_page(result: Result) -> str:
    """The board page of the result's period."""
    board = result.board
    where = "/" if board.project_id == GLOBAL else f"/projects/{board.project_id}"
    base = settings.LEADERBOARD_PUBLIC_URL.rstrip("/")
    return f"{base}{where}?timeframe={board.timeframe.value}&period={board.period}"


def winners_text(result: Result) -> str:
    """A short message: the board, its top three, links to the board and the hall of fame."""
    board = result.board
    scope = "Global" if board.project_id == GLOBAL else f"Project {board.project_id}"
    podium = ", ".join(f"#{row.rank} {row.login or '#' + str(row.user_id)} ({row.score})" for row in result.rows[:3])
    base = settings.LEADERBOARD_PUBLIC_URL.rstrip("/")
    return (
        f"{scope} {board.timeframe.value} results for {board.period}: {podium or 'no one scored'}"
        f" ({result.members} contributors, {result.total_points} points). {result_page(result)} · {base}/results"
    )


def delivery_body(kind: str, result: Result) -> str:
    """The body sent to a target of `kind`, the same bytes on every attempt."""
    if kind == "slack":
        return json.dumps({"text": winners_text(result)})
    if kind == "discord":
        return json.dumps({"content": winners_text(result)[:2000]})  # Discord's limit
    # Imported here: the API's shapes bring DRF (and through it `requests` and `pygments`),
    # ~0.15 s of every consumer's start-up for a body sent a few times a day (docs/BENCHMARKS.md,
    # "Ingest"); a webhook's result is the API's, from the one declaration.
    from api import shapes

    return json.dumps({"event": "period_result.final", "result": shapes.PeriodResult.body(result)}, default=str)


def signature(body: str, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`, as GitHub signs its webhooks."""
    return "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
