"""Exclude contributors from every board, include them again, list them (SPEC section 9)."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_record, command_actor
from scoring import exclusions
from scoring.models import Contributor


def _name(contributor: Contributor) -> str:
    return f"{contributor.login} ({contributor.id})" if contributor.login else f"#{contributor.id}"


class Command(BaseCommand):
    help = "Exclude a contributor from every board, include one again, or list them."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{exclude,include,list}")
        exclude = actions.add_parser("exclude", help="take a contributor off every board, with a reason")
        exclude.add_argument("user", help="a login (any case) or a user id")
        exclude.add_argument("--reason", required=True, help="why: cheating, staff, opted out, ...")
        include = actions.add_parser("include", help="put a contributor back on every board, exactly as the log says")
        include.add_argument("user", help="a login (any case) or a user id")
        listing = actions.add_parser("list", help="the contributors, by id")
        listing.add_argument("--excluded", action="store_true", help="only those excluded")

    def handle(self, *args, action, **options):
        if action == "list":
            return self.list(excluded=options["excluded"])
        contributor = exclusions.contributor_ensure(options["user"])
        if contributor is None:
            raise CommandError(f"no contributor {options['user']!r}: no login or user id in the log names one")
        if action == "exclude":
            if not options["reason"].strip():
                raise CommandError("--reason must say why")
            done = exclusions.contributor_exclude(contributor, reason=options["reason"])
            audit_record(
                actor=command_actor(),
                via="command",
                action="exclude",
                target=_name(contributor),
                reason=options["reason"].strip(),
                boards=done.boards,
            )
            self.stdout.write(
                f"excluded {_name(contributor)} ({options['reason'].strip()}): off {done.boards} boards"
                f" and {done.archives} archives in {done.seconds * 1000:.1f} ms"
            )
        else:
            if not contributor.excluded:
                self.stdout.write(f"{_name(contributor)} is not excluded: nothing to do")
                return
            done = exclusions.contributor_include(contributor)
            audit_record(
                actor=command_actor(), via="command", action="include", target=_name(contributor), boards=done.boards
            )
            self.stdout.write(
                f"included {_name(contributor)}: back on {done.boards} boards, exactly as the log says,"
                f" in {done.seconds * 1000:.1f} ms"
            )

    def list(self, *, excluded: bool) -> None:
        found = Contributor.objects.order_by("id")
        if excluded:
            found = found.excluded()
        rows = 0
        self.stdout.write(f"{'id':>20}  {'login':<32} {'bot':<4} excluded")
        for c in found.iterator(chunk_size=2000):
            why = "" if c.excluded_reason is None else f"{c.excluded_reason} (since {c.excluded_at:%Y-%m-%d %H:%M} UTC)"
            self.stdout.write(f"{c.id:>20}  {c.login or '-':<32} {'yes' if c.is_bot else 'no':<4} {why}".rstrip())
            rows += 1
        total = Contributor.objects.excluded().count()
        self.stdout.write(f"{rows} contributors listed, {total} excluded in all")
