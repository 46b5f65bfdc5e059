import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql


class Command(BaseCommand):
    help = "Create the configured Postgres database if it does not exist yet."

    def handle(self, *args, **options):
        db = settings.DATABASES["default"]
        params = {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None}
        if db["PASSWORD"]:
            params["password"] = db["PASSWORD"]
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
                if exists:
                    self.stdout.write(f"database {db['NAME']} exists")
                    return
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        except psycopg.Error as exc:
            raise CommandError(f"cannot create database {db['NAME']}: {exc}") from exc
        self.stdout.write(f"created database {db['NAME']}")
