from django.core.management.base import BaseCommand

from snapshots.services import snapshot_take


class Command(BaseCommand):
    help = "Save every retained board to Postgres, tied to an exact point of the event log (run from cron)."

    def handle(self, *args, **options):
        result = snapshot_take(progress=self.stdout.write)
        snapshot = result.snapshot
        self.stdout.write(
            f"snapshot {snapshot.id}: {snapshot.entries} entries on {snapshot.boards} boards, "
            f"{snapshot.events} events ({result.delta_events} new), {result.pruned} old snapshots pruned, "
            f"{snapshot.duration_ms} ms"
        )
