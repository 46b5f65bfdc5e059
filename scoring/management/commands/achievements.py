"""Achievements by hand (SPEC section 15): what the consumer's sweep does, now; or the backfill
over the whole existing log."""

from django.core.management.base import BaseCommand

from scoring.achievements.services import achievements_award, achievements_backfill


class Command(BaseCommand):
    help = (
        "Award the achievements the log rows logged since the last sweep earned (what the consumer's sweep does), "
        "or with --backfill recompute every contributor's days and achievements over the whole log."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--backfill",
            action="store_true",
            help="over the whole existing log, exactly (after migrating a service that already has a log)",
        )

    def handle(self, *args, backfill: bool = False, **options):
        if backfill:
            done = achievements_backfill(progress=lambda line: self.stdout.write(line))
        else:
            done = achievements_award(wait=True)
        self.stdout.write(
            f"achievements: {len(done.awarded)} awarded, {len(done.revoked)} revoked"
            f" ({'every contributor recomputed' if done.full else f'{done.candidates} contributors with new events'};"
            f" {done.held_back} excluded held back)"
        )
