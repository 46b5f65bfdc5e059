from django.core.management.base import BaseCommand

from snapshots.services import boards_restore


class Command(BaseCommand):
    help = "Rebuild Redis from the latest snapshot plus the events logged after it, exactly."

    def handle(self, *args, **options):
        result = boards_restore(use_snapshot=True, progress=self.stdout.write)
        source = f"snapshot {result.snapshot_id}" if result.snapshot_id else "the event log (no snapshot yet)"
        self.stdout.write(
            f"restored {result.boards} boards, {result.members} members from {source} "
            f"+ {result.delta_events} events in {result.seconds:.2f}s"
        )
