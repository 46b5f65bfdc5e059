"""Reads: a board page, a user's standing on a board, a user's scored events, the projects,
the contributors, how many log rows are not applied yet. Reads never write the log or the
boards; the one thing a read stores is the archive of a board past its retention (`archive`),
a copy of what the log says that expires by itself.

- `boards`: a page, a standing, the ranks of some users (Redis, or the archive);
- `archive`: a board past its retention, aggregated from the log once and kept a while;
- `contributors`: names, a contributor by login or id, who is excluded;
- `events`: a user's events and points, the projects, the unapplied count.
"""

from scoring.selectors.boards import (
    BoardPage,
    BoardRow,
    Source,
    Standing,
    board_from_event_log,
    board_page,
    board_ranks,
    period_is_closed,
    user_standing,
)
from scoring.selectors.contributors import contributor_find, contributor_names, user_is_excluded
from scoring.selectors.events import (
    DayPoints,
    EventPosition,
    EventsPage,
    KindPoints,
    project_list,
    unapplied_count,
    user_events,
    user_events_page,
    user_points_by_kind,
    user_points_per_day,
    user_projects,
)

__all__ = [
    "BoardPage",
    "BoardRow",
    "DayPoints",
    "EventPosition",
    "EventsPage",
    "KindPoints",
    "Source",
    "Standing",
    "board_from_event_log",
    "board_page",
    "board_ranks",
    "contributor_find",
    "contributor_names",
    "period_is_closed",
    "project_list",
    "unapplied_count",
    "user_events",
    "user_events_page",
    "user_is_excluded",
    "user_points_by_kind",
    "user_points_per_day",
    "user_projects",
    "user_standing",
]
