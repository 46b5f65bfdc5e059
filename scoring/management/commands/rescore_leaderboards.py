from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_record, command_actor
from scoring.maintenance.dry_run import rescore_dry_run
from scoring.maintenance.rescore import CHUNK, RescoreError, rules_rescore
from scoring.selectors import contributor_names


class Command(BaseCommand):
    help = (
        "Re-score every event of the log under the settings' scoring table (or an earlier rules version's: --to),"
        " rebuild every board aside and swap them in at once, while consumers keep running."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; say what would change.")
        parser.add_argument("--to", type=int, metavar="VERSION", help="Go back to this rules version (a rollback).")
        parser.add_argument("--top", type=int, default=10, help="Rank moves to show with --dry-run (10).")
        parser.add_argument("--chunk", type=int, default=CHUNK, help=f"Log ids per bulk transaction ({CHUNK}).")

    def handle(self, *args, dry_run: bool, to: int | None, top: int, chunk: int, **options):
        if chunk < 1 or top < 0:
            raise CommandError("--chunk must be at least 1 and --top at least 0")
        try:
            if dry_run:
                self.dry_run(to, top)
            else:
                self.rescore(to, chunk)
        except RescoreError as exc:
            raise CommandError(str(exc)) from exc

    def rescore(self, to: int | None, chunk: int) -> None:
        result = rules_rescore(to=to, chunk=chunk, progress=self.stdout.write)
        if not result.switched:
            self.stdout.write(
                f"nothing to rescore: rules version {result.target} is active and scored every event"
                f" ({result.seconds:.2f}s)"
            )
            return
        audit_record(
            actor=command_actor(),
            via="command",
            action="rescore",
            target=f"rules version {result.target}",
            previous=result.previous,
            events=result.events,
            changed=result.changed,
            created=result.created,
        )
        new = " (new)" if result.created else ""
        kept = f", {result.undecodable} kept their points (no message to decode)" if result.undecodable else ""
        self.stdout.write(
            f"rescored {result.events} events to rules version {result.target}{new} (was {result.previous}):"
            f" {result.changed} changed points{kept}; {result.boards} boards, {result.members} members swapped in"
            f" in {result.seconds:.2f}s; gate held {result.locked_ms:.0f} ms, applies paused {result.paused_ms:.0f} ms"
        )

    def dry_run(self, to: int | None, top: int) -> None:
        result = rescore_dry_run(to=to, top=top, progress=self.stdout.write)
        target = f"version {result.target}" if result.target is not None else "the settings' table (a new version)"
        rows = ", ".join(f"{c.row} {c.active} -> {c.wanted}" for c in result.changes) or "the same table"
        self.stdout.write(f"active: version {result.active}; target: {target}; {rows}")
        moves = result.moves
        self.stdout.write(
            f"global all-time board: {result.points_before} -> {result.points_after} points;"
            f" {moves.moved} contributors change rank, {moves.joined} join, {moves.left} leave"
        )
        names = contributor_names([m.user_id for m in moves.biggest])
        for m in moves.biggest:
            login = names.get(m.user_id, (None, None))[0]
            who = f"user {m.user_id}" + (f" ({login})" if login else "")
            direction = f"up {m.places}" if m.places > 0 else f"down {-m.places}"
            score = f"score {m.score_before} -> {m.score_after}"
            self.stdout.write(f"  {who}: rank {m.rank_before} -> {m.rank_after} ({direction}), {score}")
        kept = f", {result.undecodable} without a message to decode" if result.undecodable else ""
        self.stdout.write(
            f"dry run: {result.changed} of {result.events} events would change points{kept}; nothing was changed"
            f" ({result.seconds:.2f}s)"
        )
