"""Rescoring the log under another table, in this process (the consumers' side of it is in
tests/scoring/test_rescore_live.py)."""

from __future__ import annotations

import pytest

from scoring.models import ContributionEvent, RulesVersion
from snapshots.services.rescore import rules_rescore
from tests.builders import contributions

pytestmark = pytest.mark.django_db(transaction=True)

NEW = {"push_per_commit": 2, "push_max_commits": 5, "pull_request_merged": 7, "review_other": 0}


def test_a_rescore_scores_the_log_by_the_settings_and_a_rollback_by_the_old_version(
    ready_boards, ingest, assert_exact, settings
):
    events = contributions(400, seed=81)
    ingest(events)
    settings.SCORING = {**settings.SCORING, **NEW}
    result = rules_rescore(chunk=50)
    assert (result.target, result.previous, result.created, result.switched) == (2, 1, True, True)
    assert_exact(events, table=NEW)
    assert set(ContributionEvent.objects.values_list("rules_version", flat=True)) == {2}
    ingest(contributions(100, seed=82, prefix="later-"))
    assert_exact(events + contributions(100, seed=82, prefix="later-"), table=NEW)
    back = rules_rescore(to=1)
    assert (back.target, back.previous, back.created) == (1, 2, False)
    assert_exact(events + contributions(100, seed=82, prefix="later-"))
    assert list(RulesVersion.objects.filter(active=True).values_list("number", flat=True)) == [1]
