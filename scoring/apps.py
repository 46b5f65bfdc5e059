from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring: the event log and the boards"

    def ready(self) -> None:
        # A connection to a Sentinel-named primary checks the server against the one the
        # boards were made exact on (scoring/redis_boards/primary.py).
        from scoring.maintenance.build import recorded_run_id
        from scoring.redis_boards.primary import primary_expected

        primary_expected(recorded_run_id)
