"""SPEC section 16's settings as they are read (no servers): NATS_URL as a list of servers,
NATS_STREAM_REPLICAS, REDIS_SENTINELS and REDIS_SENTINEL_MASTER; and the run id the Redis
failover check reads from INFO."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from leaderboard_project.config import Config, redis_caches
from scoring.redis_boards.primary import run_id_of

NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def test_nats_url_takes_one_server_or_a_comma_separated_list():
    assert Config({}).urls("NATS_URL", "nats://127.0.0.1:4222", NATS_SCHEMES) == ["nats://127.0.0.1:4222"]
    config = Config({"NATS_URL": "nats://a:4222, nats://b:4223,,tls://c:4224"})
    assert config.urls("NATS_URL", "x", NATS_SCHEMES) == ["nats://a:4222", "nats://b:4223", "tls://c:4224"]


@pytest.mark.parametrize("value", ["nats://a:4222,http://b:80", "a:4222", ","])
def test_a_bad_nats_server_names_the_setting(value):
    with pytest.raises(ImproperlyConfigured, match="NATS_URL"):
        Config({"NATS_URL": value}).urls("NATS_URL", "nats://127.0.0.1:4222", NATS_SCHEMES)


def test_sentinels_are_host_port_pairs():
    config = Config({"REDIS_SENTINELS": "127.0.0.1:26379, sentinel-b:26380,[::1]:26381"})
    assert config.host_ports("REDIS_SENTINELS") == [("127.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381)]
    assert Config({}).host_ports("REDIS_SENTINELS") == []


@pytest.mark.parametrize("value", ["127.0.0.1", "host:port", ":26379", "h:0", "h:65536"])
def test_a_bad_sentinel_names_the_setting(value):
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS"):
        Config({"REDIS_SENTINELS": value}).host_ports("REDIS_SENTINELS")


def test_the_yaml_file_has_the_cluster_settings(tmp_path):
    path = tmp_path / "leaderboard.yaml"
    path.write_text(
        "nats:\n  url: [nats://a:1, nats://b:2]\n  stream_replicas: 3\n"
        "redis:\n  sentinels: [s1:26379, s2:26379]\n  sentinel_master: scores\n"
    )
    config = Config({"LEADERBOARD_CONFIG": str(path)})
    assert config.urls("NATS_URL", "x", NATS_SCHEMES) == ["nats://a:1", "nats://b:2"]
    assert config.int("NATS_STREAM_REPLICAS", 1, minimum=1, maximum=5) == 3
    assert config.host_ports("REDIS_SENTINELS") == [("s1", 26379), ("s2", 26379)]
    assert config.str("REDIS_SENTINEL_MASTER", "leaderboard") == "scores"


def test_without_sentinels_the_cache_is_redis_url():
    cache = redis_caches("redis://127.0.0.1:6379/4", [], "leaderboard")["default"]
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/4"
    assert cache["OPTIONS"]["CLIENT_CLASS"] == "django_redis.client.DefaultClient"
    assert "SENTINELS" not in cache["OPTIONS"]


def test_with_sentinels_the_cache_is_the_primary_with_redis_urls_database_and_password():
    cache = redis_caches("redis://:secret@127.0.0.1:6379/4", [("127.0.0.1", 26379)], "leaderboard")["default"]
    options = cache["OPTIONS"]
    assert cache["LOCATION"] == ["redis://sentinel-primary/4?is_master=1"]  # one pool: no reads from replicas
    assert options["SENTINELS"] == [("127.0.0.1", 26379)]
    assert options["CLIENT_CLASS"] == "django_redis.client.SentinelClient"
    assert options["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert options["CONNECTION_POOL_CLASS"] == "scoring.redis_boards.primary.PrimaryPool"
    assert options["CONNECTION_POOL_KWARGS"] == {"health_check_interval": 30, "password": "secret"}


def test_the_run_id_is_read_from_info_server():
    info = b"# Server\r\nredis_version:7.0.15\r\nrun_id:5f2a0c\r\ntcp_port:6379\r\n"
    assert run_id_of(info) == "5f2a0c"
    assert run_id_of("# Server\r\nredis_version:7.0.15\r\n") is None


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("3", True), ("5", True), ("0", False), ("7", False)])
def test_stream_replicas_are_one_to_five(value, ok):
    config = Config({"NATS_STREAM_REPLICAS": value})
    if ok:
        assert config.int("NATS_STREAM_REPLICAS", 1, minimum=1, maximum=5) == int(value)
    else:
        with pytest.raises(ImproperlyConfigured, match="NATS_STREAM_REPLICAS"):
            config.int("NATS_STREAM_REPLICAS", 1, minimum=1, maximum=5)
