"""Sign a payload file with the configured secret and POST it as GitHub would (a walk-through
without GitHub, or a redelivery by hand)."""

import json
import uuid
from pathlib import Path
from urllib import error, request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from github.signatures import signature_of


class Command(BaseCommand):
    help = "Sign a webhook payload file with GITHUB_WEBHOOK_SECRET and POST it to the webhook endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--event", required=True, help="the X-GitHub-Event name, e.g. pull_request, push, ping")
        parser.add_argument("--file", required=True, type=Path, help="the JSON payload, as GitHub sends it")
        parser.add_argument(
            "--url",
            default=None,
            help="the endpoint (default http://127.0.0.1:HTTP_PORT/v1/webhooks/github)",
        )
        parser.add_argument(
            "--delivery", default=None, help="the X-GitHub-Delivery GUID (default: a new one; reuse one to redeliver)"
        )
        parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the answer")

    def handle(self, *args, **options):
        if not settings.GITHUB_WEBHOOK_SECRETS:
            raise CommandError("GITHUB_WEBHOOK_SECRET is not set: there is no secret to sign with")
        try:
            body = options["file"].read_bytes()
        except OSError as exc:
            raise CommandError(f"--file: {exc}") from exc
        try:
            json.loads(body)
        except ValueError as exc:
            raise CommandError(f"--file: {options['file']} is not JSON: {exc}") from exc
        url = options["url"] or f"http://127.0.0.1:{settings.HTTP_PORT}/v1/webhooks/github"
        delivery = options["delivery"] or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/send_github_webhook",
            "X-GitHub-Event": options["event"],
            "X-GitHub-Delivery": delivery,
            # The first secret signs: while rotating, list the new one first.
            "X-Hub-Signature-256": signature_of(body, settings.GITHUB_WEBHOOK_SECRETS[0]),
        }
        try:
            with request.urlopen(
                request.Request(url, data=body, headers=headers), timeout=options["timeout"]
            ) as answer:
                status, text = answer.status, answer.read().decode(errors="replace")
        except error.HTTPError as answer:
            status, text = answer.code, answer.read().decode(errors="replace")
        except (error.URLError, OSError) as exc:
            raise CommandError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from exc
        self.stdout.write(f"{options['event']} delivery {delivery} -> {status} {text}")
        if status >= 300:
            raise CommandError(f"the webhook answered {status}")
