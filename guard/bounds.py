"""What a request may carry (docs/SECURITY.md): a query string of at most `QUERY_MAX_BYTES`
bytes and `QUERY_MAX_PARAMS` parameters (every endpoint takes a handful), and JSON nested at
most `JSON_MAX_DEPTH` deep (GitHub's deliveries are a dozen levels). Pure."""

from __future__ import annotations

from typing import Any

QUERY_MAX_BYTES = 2048
QUERY_MAX_PARAMS = 32
JSON_MAX_DEPTH = 64


def query_problem(query: str) -> tuple[int, str, str] | None:
    """(status, code, message) when the query string is past its bounds, else None."""
    if len(query) > QUERY_MAX_BYTES:
        return 400, "query_too_long", f"the query string is {len(query)} bytes; at most {QUERY_MAX_BYTES} are accepted"
    count = sum(1 for part in query.split("&") if part) if query else 0
    if count > QUERY_MAX_PARAMS:
        return 400, "too_many_parameters", f"the query has {count} parameters; at most {QUERY_MAX_PARAMS} are accepted"
    return None


def json_depth(value: Any, limit: int = JSON_MAX_DEPTH) -> int:
    """How deep `value` (parsed JSON) nests, counted up to `limit` + 1 at most (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
