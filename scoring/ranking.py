"""Ranks of a page of a board, of whole boards, and how they move between two of them. Pure
functions, no I/O.

A board's ranks are standard competition ranks (1, 2, 2, 4): a user's rank is one more than
the number of users scoring strictly more. A rescore's dry run compares the global all-time
board under the active rules with the same board under the target rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def ranks_of_rows(scores: Sequence[int], *, first_position: int, first_rank: int) -> list[int]:
    """Standard competition ranks (1, 2, 2, 4) of consecutive rows of a board.

    `scores` are consecutive rows in board order, the first at 0-based `first_position`, whose
    rank is `first_rank` (1 + the number of users scoring strictly more). A later row shares
    the rank of the row before it when their scores are equal; otherwise its rank is its
    position + 1 — exact at any offset without reading the rows above the page.
    """
    ranks: list[int] = []
    for index, score in enumerate(scores):
        if index == 0:
            ranks.append(first_rank)
        elif score == scores[index - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(first_position + index + 1)
    return ranks


def ranks_of_board(scores: Mapping[int, int]) -> dict[int, int]:
    """{user: rank} on a board given as {user: score}; users scoring 0 or less are on no board."""
    ranked = sorted((score for score in scores.values() if score > 0), reverse=True)
    first_at: dict[int, int] = {}
    for position, score in enumerate(ranked):
        first_at.setdefault(score, position + 1)
    return {user: first_at[score] for user, score in scores.items() if score > 0}


@dataclass(frozen=True, slots=True)
class RankMove:
    """One user's place on a board before and after (None: not on it)."""

    user_id: int
    rank_before: int | None
    rank_after: int | None
    score_before: int
    score_after: int

    @property
    def places(self) -> int:
        """Places gained (negative: lost); 0 for a user who joins or leaves the board."""
        if self.rank_before is None or self.rank_after is None:
            return 0
        return self.rank_before - self.rank_after


@dataclass(frozen=True, slots=True)
class BoardMoves:
    """How a board changes: the biggest moves of users on it before and after, and how many
    users join it or leave it."""

    biggest: list[RankMove]
    moved: int  # users on both boards whose rank changed
    joined: int
    left: int


def rank_moves(before: Mapping[int, int], after: Mapping[int, int], *, top: int = 10) -> BoardMoves:
    """The `top` biggest rank moves from board `before` to board `after` (each {user: score}),
    biggest first; ties by the rank after, then by user id. Only users on both boards move;
    those on one of them are counted as joining or leaving."""
    ranks_before, ranks_after = ranks_of_board(before), ranks_of_board(after)
    both = ranks_before.keys() & ranks_after.keys()
    moves = [
        RankMove(user, ranks_before[user], ranks_after[user], before[user], after[user])
        for user in both
        if ranks_before[user] != ranks_after[user]
    ]
    moves.sort(key=lambda m: (-abs(m.places), m.rank_after, m.user_id))
    return BoardMoves(
        biggest=moves[:top],
        moved=len(moves),
        joined=len(ranks_after.keys() - ranks_before.keys()),
        left=len(ranks_before.keys() - ranks_after.keys()),
    )
