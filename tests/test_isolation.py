"""The run's isolation is in force before anything connects: the test settings module named
in pyproject loaded, with the Redis database this run claimed (tests/redis_claim.py)."""

import os

from django.conf import settings
from django_redis import get_redis_connection

from scoring import redis_boards
from tests.redis_claim import CLAIM, CLAIM_KEY


def test_the_test_settings_are_the_ones_loaded():
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "tests.settings"
    assert settings.API_MICROCACHE_SECONDS == 0
    assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL


def test_the_boards_live_in_the_redis_database_this_run_claimed(redis_client):
    claimed = int(settings.REDIS_URL.rsplit("/", 1)[1])
    assert 1 <= claimed <= 15
    for client in (get_redis_connection("default"), redis_boards.connection()):
        assert client.connection_pool.connection_kwargs["db"] == claimed
        assert client.get(CLAIM_KEY) == CLAIM.encode()


def test_the_claim_names_one_database_and_no_other():
    """The claim is made in the database it claims (a URL's own /0 once won over `db=`, so
    every run wrote its claim into database 0 and used database 1, together)."""
    import redis

    from tests.redis_claim import with_db

    claimed = redis.Redis.from_url(settings.REDIS_URL).connection_pool.connection_kwargs["db"]
    holding = []
    for db in range(16):
        client = redis.Redis.from_url(with_db(settings.REDIS_URL, db))
        try:
            if client.get(CLAIM_KEY) == CLAIM.encode():
                holding.append(db)
        finally:
            client.close()
    assert holding == [claimed]
