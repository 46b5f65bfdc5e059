"""Small filters for the pages: a contributor's display name and placeholder avatar."""

from __future__ import annotations

from django import template

register = template.Library()


def avatar_hue(user_id: object) -> int:
    """A stable colour (0..359) for a user's placeholder avatar (live.js computes the same)."""
    return int(str(user_id)) * 137 % 360 if str(user_id).isdigit() else 0


register.filter("hue", avatar_hue)


@register.filter
def initial(login: str | None) -> str:
    """The letter on a placeholder avatar: the login's first, or '#' without one."""
    return login[0].upper() if login else "#"
