"""The admin browses and searches the log, the dead letters and the projects, read-only."""

from datetime import UTC, datetime

import pytest

from scoring import ingest
from scoring.event_generator import event_build
from scoring.ingest.wire import decode
from scoring.models import ContributionEvent, DeadLetter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ready_boards")]


@pytest.fixture
def logged_in(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def events(ready_boards):
    when = datetime(2026, 11, 20, 9, tzinfo=UTC)
    made = [
        event_build(event_id="alpha", kind=1, user_id=11, project_id=101, occurred_at=when, project_name="acme/api"),
        event_build(event_id="beta", kind=4, user_id=12, project_id=102, occurred_at=when, project_name="acme/web"),
        event_build(
            event_id="gamma", kind=7, user_id=11, project_id=102, occurred_at=when, commits=3, project_name="acme/web"
        ),
    ]
    ingest.batch_ingest(
        contributions=[decode(e.SerializeToString()) for e in made],
        dead_letters=[ingest.DeadLetterIn(b"\x01\x02junk", "undecodable: junk", "s", 5)],
    )


def ids(response):
    return sorted(row.event_id for row in response.context["cl"].result_list)


@pytest.mark.usefixtures("events")
def test_search_the_log_by_event_user_and_project(logged_in):
    url = "/admin/scoring/contributionevent/"
    assert ids(logged_in.get(url)) == ["alpha", "beta", "gamma"]
    assert ids(logged_in.get(url, {"q": "beta"})) == ["beta"]
    assert ids(logged_in.get(url, {"q": "11"})) == ["alpha", "gamma"]
    assert ids(logged_in.get(url, {"q": "102"})) == ["beta", "gamma"]
    assert ids(logged_in.get(url, {"q": "acme/api"})) == ["alpha"]
    assert ids(logged_in.get(url, {"kind__exact": "7"})) == ["gamma"]


@pytest.mark.usefixtures("events")
def test_an_event_shows_its_message_and_cannot_be_edited(logged_in):
    event = ContributionEvent.objects.get(event_id="gamma")
    page = logged_in.get(f"/admin/scoring/contributionevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b"&quot;commits_count&quot;: 3" in page.content
    assert logged_in.post(f"/admin/scoring/contributionevent/{event.pk}/change/", {}).status_code == 403
    assert logged_in.get("/admin/scoring/contributionevent/add/").status_code == 403


@pytest.mark.usefixtures("events")
def test_dead_letters_and_projects_are_browsable(logged_in):
    letter = DeadLetter.objects.get()
    page = logged_in.get(f"/admin/scoring/deadletter/{letter.pk}/change/")
    assert page.status_code == 200
    assert b"01 02 6a 75 6e 6b" in page.content
    projects = logged_in.get("/admin/scoring/project/")
    assert b"acme/api" in projects.content and b"acme/web" in projects.content
