"""The admin lists contributors and searches them by login (or id), read-only."""

import pytest

from scoring.models import Contributor

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


@pytest.fixture
def contributors():
    Contributor.objects.bulk_create(
        [
            Contributor(id=5346, login="octocat", avatar_url="https://avatars.githubusercontent.com/u/5346?v=4"),
            Contributor(id=21031067, login="Codertocat"),
            Contributor(id=29139614, login="renovate[bot]", is_bot=True),
        ]
    )


def logins(response):
    return sorted(c.login for c in response.context["cl"].result_list)


def test_the_list_shows_every_contributor_with_its_avatar(logged_in, contributors):
    response = logged_in.get("/admin/scoring/contributor/")
    assert response.status_code == 200
    assert logins(response) == ["Codertocat", "octocat", "renovate[bot]"]
    assert b"<img src='https://avatars.githubusercontent.com/u/5346?v=4'" in response.content


@pytest.mark.parametrize(
    ("term", "found"),
    [("octo", ["octocat"]), ("CODER", ["Codertocat"]), ("[bot]", ["renovate[bot]"]), ("5346", ["octocat"]), ("x", [])],
)
def test_search_by_login_or_id(logged_in, contributors, term, found):
    assert logins(logged_in.get("/admin/scoring/contributor/", {"q": term})) == found


def test_filter_bots(logged_in, contributors):
    assert logins(logged_in.get("/admin/scoring/contributor/", {"is_bot__exact": "1"})) == ["renovate[bot]"]


def test_contributors_are_read_only(logged_in, contributors):
    assert logged_in.get("/admin/scoring/contributor/add/").status_code == 403
    assert logged_in.post("/admin/scoring/contributor/5346/delete/", {"post": "yes"}).status_code == 403
    assert Contributor.objects.count() == 3
