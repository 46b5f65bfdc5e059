"""Streaks and achievements as SPEC section 15 says, in plain Python over the events a test
published: no service code (the points are tests/oracle.py's, written from the SPEC table).

Events are taken in log order (the order the test had them logged), which the (occurred_at, log
order) ties follow; a test gives each user distinct event times, so the order is the times'."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from scoring.rules import Contribution, EventKind
from tests.oracle import points

MERGED_COUNTS = {1: "first_merged_pull_request", 10: "merged_pull_requests_10", 100: "merged_pull_requests_100"}
REVIEW_COUNTS = {10: "reviews_10", 100: "reviews_100"}
STREAKS = {7: "streak_7", 30: "streak_30", 100: "streak_100"}


def scoring_days(events: list[Contribution], user: int, table: dict | None = None) -> list[date]:
    return sorted({e.occurred_at.date() for e in events if e.user_id == user and points(e, table) > 0})


def runs(days: list[date]) -> list[tuple[date, date, int]]:
    """(start, end, length) of each run of consecutive days."""
    out: list[list] = []
    for day in days:
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1][1] = day
            out[-1][2] += 1
        else:
            out.append([day, day, 1])
    return [tuple(run) for run in out]


def streaks(events: list[Contribution], user: int, today: date, table: dict | None = None) -> dict:
    """The API's `streaks` object."""
    found = runs(scoring_days(events, user, table))
    current = [r for r in found if r[0] <= today and r[1] >= today - timedelta(days=1)]
    longest = None
    for run in found:  # the longest; of equal ones, the most recent
        if longest is None or run[2] >= longest[2]:
            longest = run

    def shape(run):
        return None if run is None else {"days": run[2], "start": run[0].isoformat(), "end": run[1].isoformat()}

    return {"current": shape(current[0] if current else None), "longest": shape(longest)}


def achievements(events: list[Contribution], user: int, table: dict | None = None) -> dict[str, str]:
    """code -> the wire id of the event that earned it, for the log-based achievements."""
    mine = sorted((e for e in events if e.user_id == user and points(e, table) > 0), key=lambda e: e.occurred_at)
    earned: dict[str, str] = {}
    if mine:
        earned["first_scored_event"] = mine[0].event_id
    merged = [e for e in mine if e.kind is EventKind.PULL_REQUEST_CLOSED and e.merged]
    reviews = [e for e in mine if e.kind is EventKind.PULL_REQUEST_REVIEW_SUBMITTED]
    for n, code in MERGED_COUNTS.items():
        if len(merged) >= n:
            earned[code] = merged[n - 1].event_id
    for n, code in REVIEW_COUNTS.items():
        if len(reviews) >= n:
            earned[code] = reviews[n - 1].event_id
    first_of_day: dict[date, Contribution] = {}
    for e in mine:
        first_of_day.setdefault(e.occurred_at.date(), e)
    for n, code in STREAKS.items():
        for start, _, length in runs(sorted(first_of_day)):
            if length >= n:
                earned[code] = first_of_day[start + timedelta(days=n - 1)].event_id
                break
    return earned


def per_user(events: list[Contribution]) -> dict[int, list[Contribution]]:
    grouped: dict[int, list[Contribution]] = defaultdict(list)
    for e in events:
        grouped[e.user_id].append(e)
    return grouped
