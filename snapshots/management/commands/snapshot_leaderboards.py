from django.core.management.base import BaseCommand

from snapshots.services import snapshot_take


class Command(BaseCommand):
    help = "Save every retained board to Postgres, tied to an exact point of the event log (run from cron)."

    def handle(self, *args, **options):
        result = snapshot_take(progress=self.stdout.write)
        snapshot = result.snapshot
        base = f"snapshot {snapshot.based_on_id} + " if snapshot.based_on_id else ""
        self.stdout.write(
            f"snapshot {snapshot.id}: {snapshot.entries} members on {snapshot.boards} boards from "
            f"{base}{result.delta_events} events ({snapshot.events} in all), "
            f"{result.pruned} old snapshots pruned, in {snapshot.duration_ms / 1000:.2f}s"
        )
