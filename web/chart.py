"""The points-per-day chart of a contributor page as inline SVG geometry. Pure: no I/O.

The server draws it (no chart framework, no script): one bar per day, scaled to the busiest
day, with a title on each bar that a pointer or a screen reader can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 720, 160
BAR_GAP = 2
TOP_PAD = 8


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    points: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    total: int
    active_days: int
    first: date | None
    last: date | None


def points_chart(days: Sequence[tuple[date, int]], *, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """Bars for consecutive days of points; a day with 0 points gets a 1-unit stub so the
    timeline stays visible."""
    peak = max((points for _, points in days), default=0)
    slot = width / len(days) if days else width
    bars = []
    for index, (day, points) in enumerate(days):
        tall = (height - TOP_PAD) * points / peak if peak else 0
        tall = max(tall, 1.0)
        bars.append(
            Bar(
                x=round(index * slot, 2),
                y=round(height - tall, 2),
                width=round(max(slot - BAR_GAP, 1), 2),
                height=round(tall, 2),
                day=day,
                points=points,
            )
        )
    return Chart(
        width=width,
        height=height,
        bars=bars,
        peak=peak,
        total=sum(points for _, points in days),
        active_days=sum(1 for _, points in days if points),
        first=days[0][0] if days else None,
        last=days[-1][0] if days else None,
    )
