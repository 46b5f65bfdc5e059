"""Board maintenance: the jobs that rebuild, check or re-score the boards from the event log,
beside the consumer's flow. One module per job, and what they share in modules of its own:

- `restore`: every retained board in Redis, exactly, from a snapshot plus the log (or the log
  alone: a rebuild), built aside and swapped in at once; the consumer calls it when Redis holds
  no boards (`boards_restore(only_if_missing=True)`);
- `verify`: every board in Redis compared with the log;
- `rescore`: the whole log moved to another rules version, and its boards swapped in with it,
  as the class `Rescore` (one method per step); `rescore_log` holds its SQL over the log and its
  scorer, `dry_run` what it would change;
- `build`: what restore and rescore share to build boards aside (`BoardWriter`, the pending
  markers, the swap record); `progress`: the progress lines every job prints.

The jobs read `snapshots` (the saved snapshots a restore starts from); `snapshots` never imports
this package.
"""
