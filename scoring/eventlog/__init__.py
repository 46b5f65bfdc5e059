"""The event log read as boards: the rules every SQL statement over the log shares (`sql`: a
row's live points, who is excluded), and the one aggregate of the log into boards
(`aggregate.board_scores`) that snapshots, restores, verify, the selectors, exclusions and the
rescore all read."""
