"""`bin/run` (`make run`) raises the limit on open files before it starts the servers: every
open stream is a descriptor in a gunicorn worker (docs/LIVE.md, "What limits the number of
streams"), and a soft limit of 1,024 would cap a worker near a thousand streams.

The servers' own behaviour is tested elsewhere; here the programs bin/run starts are stand-ins
(in a `VENV` of this test's) that write the limits they were started with and wait, so that
what is checked is bin/run's shell alone."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path

from tests.fixtures import ROOT, wait_for

STAND_IN = """#!/bin/sh
echo "$(ulimit -Sn) $(ulimit -Hn)" > "{out}/$(basename "$0").$$"
exec sleep 60
"""


def test_bin_run_raises_the_open_files_soft_limit_to_the_hard_limit(tmp_path: Path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for program in ("gunicorn", "python"):
        path = venv / "bin" / program
        path.write_text(STAND_IN.format(out=tmp_path))
        path.chmod(0o755)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    run = subprocess.Popen(
        [str(ROOT / "bin" / "run")],
        env={**os.environ, "VENV": str(venv), "HTTP_PORT": "0", "GRPC_PORT": "0"},
        preexec_fn=lowered,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )

    def started() -> list[tuple[str, int, int]]:
        found = [(path.name.split(".")[0], *map(int, path.read_text().split())) for path in tmp_path.glob("*.*")]
        return found if len(found) == 3 and all(len(each) == 3 for each in found) else []

    try:
        limits = wait_for(started, message="the three programs bin/run starts")
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(10)
    # gunicorn, the consumer and the gRPC server (both `python manage.py ...`)
    assert sorted(limits) == [("gunicorn", hard, hard), ("python", hard, hard), ("python", hard, hard)]
