"""The admin's defences: the login throttle (django-axes, counted by address and by account at
an address, in Redis), sessions that expire, and the audit of every exclusion, inclusion,
rescore and notification-target change, read-only in the admin."""

from __future__ import annotations

import getpass
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditRecord
from scoring import ingest
from scoring.results.models import NotificationTarget
from scoring.rules import versions
from tests.scoring.test_exclusions import history

LOGIN = "/admin/login/?next=/admin/"


def login(client, password: str, address: str, username: str = "admin") -> int:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address).status_code


@pytest.fixture
def admin_user(redis_client, django_user_model):
    return django_user_model.objects.create_superuser("admin", "a@example.com", "right-password")


def test_a_login_flood_is_locked_out_and_the_right_password_elsewhere_still_works(client, admin_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    codes = [login(client, f"wrong-{i}", "10.0.0.1") for i in range(50)]
    assert codes == [200] * 4 + [429] * 46  # the form again four times; the fifth failure locks
    assert login(client, "right-password", "10.0.0.1") == 429  # locked: even the right one
    assert login(client, "anything", "10.0.0.1", username="someone-else") == 429  # the address, any account
    assert login(client, "right-password", "10.0.0.2") == 302  # the account from elsewhere: in
    assert client.get("/admin/").status_code == 200


def test_sessions_expire(client, admin_user, settings):
    assert login(client, "right-password", "10.0.0.3") == 302
    assert client.cookies["sessionid"]["max-age"] == settings.SESSION_COOKIE_AGE == 8 * 3600
    assert client.cookies["sessionid"]["httponly"] is True


def test_the_admin_lives_at_its_path(settings):
    assert settings.ADMIN_PATH == "admin/"
    assert reverse("admin:index") == "/admin/"


def test_exclusions_and_inclusions_are_audited_from_the_admin_and_the_command(client, admin_user, ready_boards):
    ingest.batch_ingest(contributions=history())
    client.force_login(admin_user)
    url = "/admin/scoring/contributor/"
    done = client.post(
        url, {"action": "exclude_contributors", "_selected_action": ["1"], "reason": "staff", "apply": "1"}
    )
    assert done.status_code == 302
    assert client.post(url, {"action": "include_contributors", "_selected_action": ["1"]}).status_code == 302
    call_command("contributors", "exclude", "1", "--reason", "spam", stdout=StringIO())
    call_command("contributors", "include", "1", stdout=StringIO())
    me = f"command:{getpass.getuser()}"
    rows = list(AuditRecord.objects.order_by("id").values_list("actor", "via", "action", "target"))
    assert rows == [
        ("admin", "admin", "exclude", "ada (1)"),
        ("admin", "admin", "include", "ada (1)"),
        (me, "command", "exclude", "ada (1)"),
        (me, "command", "include", "ada (1)"),
    ]
    assert [r.details["reason"] for r in AuditRecord.objects.filter(action="exclude").order_by("id")] == [
        "staff",
        "spam",
    ]
    page = client.get("/admin/audit/auditrecord/")
    assert page.status_code == 200 and b"ada (1)" in page.content
    assert client.get("/admin/audit/auditrecord/add/").status_code == 403
    record = AuditRecord.objects.first()
    assert client.post(f"/admin/audit/auditrecord/{record.pk}/delete/").status_code == 403


def test_notification_target_changes_are_audited(client, admin_user):
    client.force_login(admin_user)
    base = "/admin/scoring/notificationtarget/"
    form = {"name": "team", "kind": "slack", "url": "https://hooks.example/1", "timeframes": "[]", "project_ids": "[]"}
    assert client.post(base + "add/", {**form, "enabled": "on"}).status_code == 302
    target = NotificationTarget.objects.get()
    changed = {**form, "url": "https://hooks.example/2", "enabled": "on"}
    assert client.post(f"{base}{target.pk}/change/", changed).status_code == 302
    assert client.post(f"{base}{target.pk}/delete/", {"post": "yes"}).status_code == 302
    rows = list(AuditRecord.objects.order_by("id").values_list("actor", "action", "target", "details"))
    assert rows == [
        (
            "admin",
            "target_add",
            "team",
            {
                "id": target.pk,
                "changed": {
                    "name": "team",
                    "kind": "slack",
                    "url": "https://hooks.example/1",
                    "timeframes": [],
                    "project_ids": [],
                    "enabled": True,
                },
            },
        ),
        ("admin", "target_change", "team", {"id": target.pk, "changed": {"url": "https://hooks.example/2"}}),
        ("admin", "target_delete", "team", {"id": target.pk, "kind": "slack", "url": "https://hooks.example/2"}),
    ]


def test_a_rescore_is_audited(ready_boards, settings):
    versions.rules_ensure()  # version 1 from the table the events were scored by
    ingest.batch_ingest(contributions=history())
    settings.SCORING = {**settings.SCORING, "issue_opened": 5}
    out = StringIO()
    call_command("rescore_leaderboards", stdout=out)
    assert "rescored 19 events to rules version 2 (new) (was 1)" in out.getvalue()
    record = AuditRecord.objects.get()
    assert (record.actor, record.via, record.action, record.target) == (
        f"command:{getpass.getuser()}",
        "command",
        "rescore",
        "rules version 2",
    )
    assert record.details["previous"] == 1 and record.details["created"] is True
