"""Writing an audit record: from the admin (`request_actor`) or a command (`command_actor`)."""

from __future__ import annotations

import getpass
from typing import Any

from audit.models import AuditRecord


def request_actor(request) -> str:
    """The admin user behind a request."""
    user = getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else "anonymous"


def command_actor() -> str:
    """The operating-system user running a management command."""
    try:
        return f"command:{getpass.getuser()}"
    except (KeyError, OSError):
        return "command:unknown"


def audit_record(*, actor: str, via: str, action: str, target: str, **details: Any) -> AuditRecord:
    """Record one change (in the caller's transaction, if it has one)."""
    return AuditRecord.objects.create(actor=actor, via=via, action=action, target=target[:300], details=details)
