"""Ranks of whole boards and their moves, for a rescore's dry run (pure: no servers)."""

from scoring.ranking import RankMove, rank_moves, ranks_of_board, ranks_of_rows


def test_competition_ranks_share_a_rank_and_skip_the_next():
    assert ranks_of_board({1: 50, 2: 40, 3: 40, 4: 10, 5: 0}) == {1: 1, 2: 2, 3: 2, 4: 4}
    assert ranks_of_board({}) == {}


def test_the_biggest_moves_come_first_then_by_the_new_rank_then_by_user():
    before = {1: 15, 2: 20, 3: 3, 4: 10, 5: 2, 6: 1}
    after = {1: 24, 2: 14, 3: 5, 5: 2, 6: 30, 7: 4}
    moves = rank_moves(before, after, top=10)
    # before: 2 (1), 1 (2), 4 (3), 3 (4), 5 (5), 6 (6); after: 6 (1), 1 (2), 2 (3), 3 (4), 7 (5), 5 (6)
    assert moves.biggest == [
        RankMove(6, 6, 1, 1, 30),
        RankMove(2, 1, 3, 20, 14),
        RankMove(5, 5, 6, 2, 2),
    ]
    assert [m.places for m in moves.biggest] == [5, -2, -1]
    assert (moves.moved, moves.joined, moves.left) == (3, 1, 1)  # 1 and 3 keep their rank; 7 joins; 4 leaves


def test_top_limits_the_list_not_the_counts():
    before = {n: 100 - n for n in range(1, 21)}
    after = {n: n for n in range(1, 21)}
    moves = rank_moves(before, after, top=2)
    assert [(m.user_id, m.rank_before, m.rank_after) for m in moves.biggest] == [(20, 20, 1), (1, 1, 20)]
    assert moves.moved == 20


def test_a_tie_broken_by_the_new_table_is_a_move():
    moves = rank_moves({1: 5, 2: 5}, {1: 5, 2: 6})
    assert moves.biggest == [RankMove(1, 1, 2, 5, 5)]


def test_ranks_of_rows_from_the_top():
    assert ranks_of_rows([50, 40, 40, 30], first_position=0, first_rank=1) == [1, 2, 2, 4]


def test_ranks_of_rows_three_way_tie_then_skip():
    assert ranks_of_rows([9, 9, 9, 8, 7, 7], first_position=0, first_rank=1) == [1, 1, 1, 4, 5, 5]


def test_ranks_of_rows_page_starting_inside_a_tie():
    # rows 2.. of [50, 40, 40, 40, 30]: the first row shares rank 2 with the row above the page
    assert ranks_of_rows([40, 40, 30], first_position=2, first_rank=2) == [2, 2, 5]


def test_ranks_of_rows_empty():
    assert ranks_of_rows([], first_position=10, first_rank=1) == []
