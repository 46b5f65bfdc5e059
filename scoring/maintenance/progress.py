"""Progress lines of the long maintenance jobs (a command passes its output; tests, nothing)."""

from __future__ import annotations

from collections.abc import Callable

PROGRESS_EVERY = 250_000  # members (or events) between two progress lines

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default `Progress`: says nothing."""


class Ticker:
    """Calls `progress` each time another PROGRESS_EVERY members went by."""

    def __init__(self, progress: Progress, what: str) -> None:
        self.progress, self.what, self.next = progress, what, PROGRESS_EVERY

    def __call__(self, boards: int, members: int) -> None:
        if members >= self.next:
            self.progress(f"{self.what}: {boards} boards, {members} members")
            self.next = (members // PROGRESS_EVERY + 1) * PROGRESS_EVERY
