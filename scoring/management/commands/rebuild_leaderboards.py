from django.core.management.base import BaseCommand

from scoring.maintenance.restore import boards_restore


class Command(BaseCommand):
    help = "Rebuild every board from the event log alone, aside, then swap it in (consumers may keep running)."

    def handle(self, *args, **options):
        result = boards_restore(use_snapshot=False, progress=self.stdout.write)
        self.stdout.write(
            f"rebuilt {result.boards} boards, {result.members} members from {result.source}, "
            f"{result.pending} in-flight events marked, in {result.seconds:.2f}s"
        )
