"""Period results by hand (SPEC section 14): finalize what is final now, list what is recorded."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from scoring import clock
from scoring.boards import GLOBAL, Timeframe
from scoring.results import selectors
from scoring.results.services import results_finalize


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--now: {text!r} is not an ISO 8601 time ({exc})") from exc
    if moment.tzinfo is None:
        raise CommandError(f"--now: {text!r} has no time zone (add Z or +00:00)")
    return moment


class Command(BaseCommand):
    help = "Record the results of the periods final by now, or list the recorded results."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{finalize,list}")
        finalize = actions.add_parser("finalize", help="what the consumer's sweep does by itself, now")
        finalize.add_argument("--now", help="finalize as of this ISO 8601 time (default: now)")
        listing = actions.add_parser("list", help="the recorded results, newest first")
        listing.add_argument("--timeframe", choices=[t.value for t in Timeframe if t is not Timeframe.ALL_TIME])
        listing.add_argument("--project", type=int, default=GLOBAL, help="a project id (default: the global boards)")
        listing.add_argument("--limit", type=int, default=20)

    def handle(self, *args, action, **options):
        if action == "finalize":
            now = _instant(options["now"]) if options["now"] else clock.now()
            done = results_finalize(now=now)
            if done.skipped:
                self.stdout.write("another finalizer is running: nothing done")
                return
            self.stdout.write(
                f"finalized {len(done.periods_finalized)} periods as of {now.isoformat()}: {done.results} results,"
                f" {done.deliveries} deliveries queued, {done.late_events} late events counted"
            )
            return
        timeframe = Timeframe(options["timeframe"]) if options["timeframe"] else None
        total, found = selectors.results_latest(
            timeframe=timeframe, project_id=options["project"], limit=options["limit"], offset=0
        )
        for result in found:
            winners = ", ".join(f"#{row.rank} {row.login or row.user_id} ({row.score})" for row in result.rows[:3])
            self.stdout.write(
                f"{result.board.timeframe.value:<8} {result.board.period:<10} members={result.members:<6}"
                f" points={result.total_points:<8} late={result.late_events:<4} {winners}"
            )
        self.stdout.write(f"{len(found)} of {total} results")
