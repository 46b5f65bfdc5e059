from django.core.management.base import BaseCommand

from scoring.maintenance.restore import boards_restore


class Command(BaseCommand):
    help = "Rebuild Redis from the latest snapshot plus the events logged after it, exactly."

    def handle(self, *args, **options):
        result = boards_restore(use_snapshot=True, progress=self.stdout.write)
        self.stdout.write(
            f"restored {result.boards} boards, {result.members} members from {result.source}"
            f"{'' if result.snapshot_id else ' (no usable snapshot: the whole log)'}, "
            f"{result.pending} in-flight events marked, in {result.seconds:.2f}s"
        )
