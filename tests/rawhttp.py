"""A small raw HTTP/1.1 client on asyncio, for the abuse test (tests/test_abuse.py): what a flood
needs and nothing more — requests written as bytes, answers read by Content-Length — so that
thousands of requests take seconds and every status, gunicorn's own 400s included, is seen."""

from __future__ import annotations

import asyncio

HOST = "127.0.0.1"


def get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()


def post(path: str, body: bytes, headers: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "set-cookie" and name in headers:  # every cookie, one after another
                headers[name] += ", " + value.strip()
            else:
                headers.setdefault(name, value.strip())
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("content-type", "").startswith("text/event-stream"):
        body = b""
    else:
        body = await reader.read()
    return status, headers, body


async def exchange(port: int, raw: bytes, source: str = HOST) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own."""
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), 30)
    finally:
        writer.close()


async def keep_alive(port: int, requests: list[bytes], source: str = HOST) -> list[tuple[int, dict, bytes]]:
    """Requests one after another on one kept-alive connection (opened again if the server closes it)."""
    answers = []
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    for raw in requests:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(read_response(reader), 30)
        answers.append(answer)
        if answer[1].get("connection", "").lower() == "close":
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    writer.close()
    return answers
