"""Who the client is (guard/client.py): the peer, or X-Forwarded-For's last untrusted entry
when the peer is a trusted proxy. The expected addresses are written out by hand."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from guard.client import client_address, grpc_client
from leaderboard_project.config import Config

PROXIES = ["10.0.0.0/8", "192.168.1.5"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.9", None, [], "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),  # no trusted proxy: the header is ignored
        ("203.0.113.9", "198.51.100.1", PROXIES, "203.0.113.9"),  # a peer that is no proxy of ours
        ("10.1.2.3", "198.51.100.1", PROXIES, "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", PROXIES, "198.51.100.1"),  # the client's own entry is not taken
        ("10.1.2.3", "6.6.6.6, 198.51.100.1, 192.168.1.5", PROXIES, "198.51.100.1"),  # two proxies
        ("10.1.2.3", "10.9.9.9, 192.168.1.5", PROXIES, "10.9.9.9"),  # every hop ours: the leftmost
        ("10.1.2.3", "not-an-address", PROXIES, "10.1.2.3"),
        ("10.1.2.3", "", PROXIES, "10.1.2.3"),
        ("10.1.2.3", "[2001:db8::7]:4711", PROXIES, "2001:db8::7"),
        ("10.1.2.3", "198.51.100.1:5555", PROXIES, "198.51.100.1"),
        ("::ffff:203.0.113.9", None, [], "203.0.113.9"),  # v4-mapped: one address, one bucket
        ("", None, [], "unknown"),
        (None, "198.51.100.1", PROXIES, "unknown"),
    ],
)
def test_the_client_address(peer, forwarded, trusted, client):
    assert client_address(peer, forwarded, trusted) == client


def test_the_setting_decides(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address("127.0.0.1", "198.51.100.1") == "127.0.0.1"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_address("127.0.0.1", "198.51.100.1") == "198.51.100.1"


def test_grpc_peers(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert grpc_client("ipv4:203.0.113.9:5000", []) == "203.0.113.9"
    assert grpc_client("ipv6:[2001:db8::1]:5000", [("x-forwarded-for", "198.51.100.1")]) == "2001:db8::1"
    assert grpc_client("ipv4:127.0.0.1:5000", [("x-forwarded-for", "198.51.100.1")]) == "198.51.100.1"
    assert grpc_client("unix:/tmp/socket", []) == "unknown"


def test_bad_settings_stop_the_start_naming_them():
    with pytest.raises(ImproperlyConfigured, match=r"TRUSTED_PROXIES: 'proxy\.example' is not an address"):
        Config({"TRUSTED_PROXIES": "10.0.0.1,proxy.example"}).networks("TRUSTED_PROXIES")
    with pytest.raises(ImproperlyConfigured, match="ADMIN_PATH"):
        Config({"ADMIN_PATH": "a b/"}).url_path("ADMIN_PATH", "admin/")
    assert Config({"ADMIN_PATH": "/ops/admin-7f3a"}).url_path("ADMIN_PATH", "admin/") == "ops/admin-7f3a/"
    assert Config({}).url_path("ADMIN_PATH", "admin/") == "admin/"
