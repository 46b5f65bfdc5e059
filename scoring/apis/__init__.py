"""The REST API's views (docs/API.md), thin: read the query with the api kit's parser, call a
selector, build the body with the answer's shape (api/shapes.py), which is also what the
OpenAPI document shows. The board reads are the hot path: the only Postgres read on it is one
query for the names of the page's users (none at all when Postgres is down: the rows then
come without names).

- `base`: what every read shares (JSON only, the query, Cache-Control);
- `boards`: a board's page and a user's standing;
- `contributors`: a user's events and a contributor;
- `badges`: a contributor's rank to embed, as shields.io's endpoint JSON and as an SVG;
- `results`: period results;
- `service`: the health check, the projects and the rules.
"""
