import time

from django.core.management.base import BaseCommand, CommandError

from scoring.event_generator import GeneratorOptions, events_generate, events_publish


def _ratio(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Publish generated contribution events (with duplicates and poison if asked) for a demo or a load test."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=1000, help="messages to publish (default 1000)")
        parser.add_argument("--users", type=int, default=50, help="distinct users (default 50)")
        parser.add_argument("--projects", type=int, default=5, help="distinct projects (default 5)")
        parser.add_argument("--days", type=int, default=30, help="spread event times over the last N days (default 30)")
        parser.add_argument(
            "--duplicates", type=_ratio, default=0.05, help="share re-sent as duplicates (default 0.05)"
        )
        parser.add_argument(
            "--invalid", type=_ratio, default=0.0, help="share of invalid (poison) messages (default 0)"
        )
        parser.add_argument(
            "--bots", type=int, default=0, help="how many of the users are bots, kept off the boards (default 0)"
        )
        parser.add_argument("--rate", type=float, default=0.0, help="events per second; 0 = as fast as possible")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable stream")

    def handle(self, *args, **options):
        for name in ("count", "users", "projects"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1")
        if not 0 <= options["bots"] <= options["users"]:
            raise CommandError("--bots must be between 0 and --users")
        if options["duplicates"] + options["invalid"] > 1:
            raise CommandError("--duplicates plus --invalid must not exceed 1")
        generator = GeneratorOptions(
            count=options["count"],
            users=options["users"],
            projects=options["projects"],
            days=options["days"],
            duplicates=options["duplicates"],
            invalid=options["invalid"],
            bots=options["bots"],
            seed=options["seed"],
        )
        step = max(options["count"] // 10, 1)
        last = [0]

        def progress(published: int) -> None:
            if published - last[0] >= step:
                last[0] = published
                self.stdout.write(f"published {published}/{options['count']}")

        started = time.monotonic()
        published = events_publish(events_generate(generator), rate=options["rate"], progress=progress)
        elapsed = time.monotonic() - started
        self.stdout.write(f"published {published} events in {elapsed:.2f}s ({published / max(elapsed, 1e-9):.0f}/s)")
