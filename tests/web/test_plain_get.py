"""The worker's reading of a plain GET (web.worker.plain_get), which lets it answer a kept page on
its loop without gunicorn's parser: whatever it accepts, gunicorn's parser reads the same way
(the oracle: gunicorn's own RequestParser on the same bytes), and anything unusual is left to
gunicorn. No server: pure parsing."""

from __future__ import annotations

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser
from hypothesis import given, settings
from hypothesis import strategies as st

from web.worker import plain_get

CFG = Config()
for name, value in (("limit_request_line", 4094), ("limit_request_fields", 100), ("limit_request_field_size", 8190)):
    CFG.set(name, value)  # gunicorn.conf.py's


def gunicorns(head: bytes):
    """The request gunicorn's parser reads from `head` (it raises on what it refuses)."""
    return next(RequestParser(CFG, iter([head]), ("127.0.0.1", 5000)))


def agrees(head: bytes) -> bool:
    """plain_get's reading of `head`, checked against gunicorn's; whether it accepted it."""
    plain = plain_get(head, CFG)
    if plain is None:
        return False
    request = gunicorns(head)  # raises if gunicorn refuses what plain_get accepted
    assert (request.method, request.version) == ("GET", (1, 1))
    assert (request.path, request.query) == (plain.path, plain.query)
    assert len(request.headers) == len(plain.headers)  # none dropped, none twice
    assert dict(request.headers) == plain.headers
    assert request.should_close() == plain.close
    assert request.scheme == "http"
    return True


WRK = b"GET /v1/leaderboard/public?limit=50 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
BROWSER = (
    b"GET /?timeframe=weekly HTTP/1.1\r\n"
    b"Host: rankr.example\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    b"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b'If-None-Match: "0123456789abcdef0123456789abcdef"\r\n'
    b"Cookie: theme=dark; lang=en\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)


@pytest.mark.parametrize(
    "head",
    [
        WRK,
        BROWSER,
        b"GET / HTTP/1.1\r\n\r\n",  # no Host: Django's check refuses it later, not the parser
        b"GET /v1/badges/octocat.svg HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET /v1/leaderboard/users/7?around=2&x=%E2%9C%93 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n",  # a second '?' is the query's
        b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",  # an empty query
        b"GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Spaced: \t a  b \t\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: close, te\r\n\r\n",  # not "close": gunicorn keeps it open too
    ],
)
def test_plain_requests_are_read_as_gunicorn_reads_them(head):
    assert agrees(head)


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\n\r\n",  # the empty line RFC 9112 lets come first
        b"get / HTTP/1.1\r\n\r\n",
        b"HEAD / HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET http://h/ HTTP/1.1\r\n\r\n",  # absolute form
        b"GET * HTTP/1.1\r\n\r\n",
        b"GET //evil/ HTTP/1.1\r\n\r\n",  # gunicorn reads '//' its own way
        b"GET /#frag HTTP/1.1\r\n\r\n",
        b"GET /a b HTTP/1.1\r\n\r\n",
        "GET /\u00e9 HTTP/1.1\r\n\r\n".encode(),
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\n\n",  # bare line feeds
        b"GET / HTTP/1.1\r\nHost: h\r\n",  # not ended
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n\r\n",  # pipelined: gunicorn's
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\nx",
        b"GET / HTTP/1.1\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n",  # gunicorn drops underscored names
        b"GET / HTTP/1.1\r\nX-A : 1\r\n\r\n",
        b"GET / HTTP/1.1\r\n: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\r\n\r\n",  # 8-bit values
        b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",  # twice
        b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        b"GET /" + b"a" * 4093 + b" HTTP/1.1\r\n\r\n",  # past limit_request_line
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(100)) + b"\r\n",  # 100 fields
        b"GET / HTTP/1.1\r\nX-A: " + b"v" * 8190 + b"\r\n\r\n",  # past limit_request_field_size
    ],
)
def test_anything_unusual_is_left_to_gunicorn(head):
    assert plain_get(head, CFG) is None


def test_a_request_at_the_limits_is_still_plain():
    line = b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\n"
    fields = b"".join(b"X-%d: %s\r\n" % (n, b"v" * 8000) for n in range(99))
    assert agrees(line + fields + b"\r\n")


PLAIN_TARGET = st.sampled_from(list(b"/?%:@!$&'()*+,;=-._~azAZ09"))
ODD_TARGET = st.sampled_from(list(b'/?#% \x00\x7f\xff\t\\"<>[]{}^`|'))
PLAIN_NAME = st.sampled_from(list(b"Aa-0"))
ODD_NAME = st.sampled_from(list(b"Aa-_0 :!#.\x00\xe9\t"))
PLAIN_VALUE = st.sampled_from(list(b"aZ09 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
ODD_VALUE = st.sampled_from(list(b"a \t\x00\x01\x0b\x7f\x80\xff\r\n"))


def chars(plain, odd, min_size: int = 0, max_size: int = 20):
    """Bytes of `plain` characters, or (one time in four) with `odd` ones among them."""
    clean = st.lists(plain, min_size=min_size, max_size=max_size).map(bytes)
    mixed = st.lists(st.one_of(plain, odd), max_size=max_size).map(bytes)
    return st.one_of(clean, clean, clean, mixed)


@st.composite
def heads(draw) -> bytes:
    """Request heads from the plain to the hostile: every byte a target, a name or a value may
    hold, with the usual and the unusual methods, versions, separators and endings."""
    method = draw(st.sampled_from([b"GET"] * 6 + [b"get", b"HEAD", b"OPTIONS"]))
    target = b"/" + draw(chars(PLAIN_TARGET, ODD_TARGET, max_size=30))
    version = draw(st.sampled_from([b"HTTP/1.1"] * 6 + [b"HTTP/1.0", b"HTTP/1.2", b"HTTP/11"]))
    fields = []
    for _ in range(draw(st.integers(0, 4))):
        known = st.sampled_from([b"Host", b"Connection", b"If-None-Match", b"X-Forwarded-For", b"Accept"])
        name = draw(st.one_of(known, chars(PLAIN_NAME, ODD_NAME, min_size=1, max_size=12)))
        usual = st.sampled_from([b"close", b"keep-alive", b"Close", b"127.0.0.1:8000", b'"etag"', b""])
        value = draw(st.one_of(usual, chars(PLAIN_VALUE, ODD_VALUE)))
        separator = draw(st.sampled_from([b": "] * 6 + [b":", b":\t", b" : "]))
        fields.append(name + separator + value)
    tail = draw(st.sampled_from([b"\r\n\r\n"] * 6 + [b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", b"\n\n"]))
    return method + b" " + target + b" " + version + (b"\r\n" + b"\r\n".join(fields) if fields else b"") + tail


@settings(max_examples=3000, deadline=None)
@given(heads())
def test_whatever_it_accepts_gunicorn_reads_the_same(head):
    agrees(head)


def test_the_generated_heads_are_often_plain():
    """The property above tests something: a good share of the heads it is given are plain."""
    accepted = []

    @settings(max_examples=500, deadline=None, database=None)
    @given(heads())
    def count(head):
        accepted.append(agrees(head))

    count()
    assert sum(accepted) >= len(accepted) // 20  # about one in ten
