from django.core.management.base import BaseCommand, CommandError

from scoring.maintenance.verify import boards_verify


def _show(value) -> str:
    return "-" if value is None else str(value)


class Command(BaseCommand):
    help = "Compare every board in Redis with the event log; print each difference; exit 0 only when all agree."

    def handle(self, *args, **options):
        result = boards_verify(progress=self.stdout.write)
        for d in result.differences:
            if d.user_id is not None:
                self.stdout.write(
                    f"DIFF {d.board} user {d.user_id}: redis={_show(d.redis_score)} log={_show(d.log_score)}"
                )
            elif d.redis_score is None:
                self.stdout.write(f"DIFF {d.board}: missing from Redis (log: {d.log_score} members)")
            else:
                self.stdout.write(f"DIFF {d.board}: not in the log (redis: {d.redis_score} members)")
        summary = f"{result.boards} boards, {result.members} members checked, {len(result.differences)} differences"
        if not result.ready:
            summary += " (the ready sentinel is missing: a restore is due or running)"
        if result.unsynced:
            summary += (
                f" ({result.unsynced} contributors' exclusion changed and their boards do not follow yet:"
                " the consumers' sweep or a restore syncs them)"
            )
        if not result.ok:
            raise CommandError(summary, returncode=1)
        self.stdout.write(f"OK: {summary}")
