"""Exclusions (SPEC section 9) against the real Postgres and Redis, in process."""

import pytest

from scoring import services
from scoring.rules import Contribution, EventKind
from tests.clock import START
from tests.oracle import expected_boards, redis_boards_state

pytestmark = pytest.mark.usefixtures("ready_boards")


def c(event_id, user_id=1, project_id=10, kind=EventKind.ISSUE_OPENED, at=START, login=None, is_bot=False):
    return Contribution(
        event_id, kind, at, project_id, "org/ten", user_id, raw=event_id.encode(), login=login, is_bot=is_bot
    )


def test_named_humans_are_on_the_boards(redis_client):
    events = [c("a", 1, login="ada"), c("b", 2, login="grace")]
    services.batch_ingest(contributions=events)
    assert redis_boards_state(redis_client) == expected_boards(events)
