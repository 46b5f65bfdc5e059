"""The project's settings for the test suite (pyproject's DJANGO_SETTINGS_MODULE).

The same settings as production, read from the same environment, except: Redis is the
configured server's database that this run claimed (tests/redis_claim.py), and the API's
micro-cache, the pages' cache and the board names' cache are off, since tests read what they
just wrote (test_microcache, test_pagecache and test_names_cache turn them on).
"""

from leaderboard_project.config import redis_caches
from leaderboard_project.settings import *  # noqa: F403
from leaderboard_project.settings import REDIS_SENTINEL_MASTER, REDIS_SENTINELS, REDIS_URL
from tests.redis_claim import redis_url_claimed

REDIS_URL = redis_url_claimed(REDIS_URL)
CACHES = redis_caches(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER)
API_MICROCACHE_SECONDS = 0
PAGE_CACHE_SECONDS = 0
NAMES_CACHE_SECONDS = 0
