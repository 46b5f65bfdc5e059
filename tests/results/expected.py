"""What a result must hold, from the oracle's boards (tests/oracle.py): SPEC section 14's top N
with standard competition ranks, ordered as Redis orders a board."""

from __future__ import annotations

from scoring.results.models import PeriodResult


def expected_result(board: dict[str, int], top: int = 10) -> dict:
    """{members, total_points, top} of a board given as {user id: score}."""
    ordered = sorted(board.items(), key=lambda item: (-item[1], [-b for b in item[0].encode()]))
    rows, rank = [], 0
    for position, (user, score) in enumerate(ordered):
        if position == 0 or score != ordered[position - 1][1]:
            rank = position + 1
        if position < top:
            rows.append({"rank": rank, "user_id": user, "score": score})
    return {"members": len(board), "total_points": sum(board.values()), "top": rows}


def recorded_results() -> dict[str, dict]:
    """Every recorded result as {board key: {members, total_points, top}}."""
    found = {}
    for r in PeriodResult.objects.all():
        scope = "global" if not r.project_id else f"project:{r.project_id}"
        found[f"leaderboard:{scope}:{r.timeframe}:{r.period}"] = {
            "members": r.members,
            "total_points": r.total_points,
            "top": r.top,
        }
    return found


def expected_results(boards: dict[str, dict[str, int]], final: set[tuple[str, str]], top: int = 10) -> dict:
    """The results of the oracle's boards whose (timeframe, period) is in `final`."""
    found = {}
    for key, board in boards.items():
        timeframe, period = key.split(":")[-2:]
        if (timeframe, period) in final and board:
            found[key] = expected_result(board, top)
    return found
