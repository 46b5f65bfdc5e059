"""The HTTP edge's kit, shared by the REST API (scoring/apis/), the pages (web/), the stream
and, next, gRPC: what a request may name and how it is read (`bounds`, `query`, `cursor`),
how an answer is shaped and linked (`shapes`, `links`), and the one response cache (`cache`).

Nothing here reads a DRF request: a query is a plain mapping of names to their values, so
every transport turns the same input into the same value with the same errors.
"""
