from django.core.management.base import BaseCommand, CommandError

from snapshots.services import boards_verify


def _show(value) -> str:
    return "-" if value is None else str(value)


class Command(BaseCommand):
    help = "Compare every board in Redis with the event log; print each difference; exit 0 only when all agree."

    def handle(self, *args, **options):
        result = boards_verify(progress=self.stdout.write)
        for d in result.differences:
            who = f"user {d.user_id}" if d.user_id is not None else "whole board"
            self.stdout.write(f"DIFF {d.board} {who}: redis={_show(d.redis_score)} log={_show(d.log_score)}")
        summary = f"{result.boards} boards, {result.members} members checked, {len(result.differences)} differences"
        if not result.ok:
            raise CommandError(summary)
        self.stdout.write(f"OK: {summary}")
