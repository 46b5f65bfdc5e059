"""The bounds of what a request may name. Pure constants: the GitHub edge imports them too."""

U64_MAX = 2**64 - 1  # user and project ids are unsigned 64-bit on the wire
ID_MAX = 2**63 - 1  # the event log's bigint ids
OFFSET_MAX = 2**53 - 1  # far past any board, and safe for Redis ranges and JSON readers
LIMIT_MAX, LIMIT_DEFAULT = 1000, 50
AROUND_MAX = 50
PAGE_MAX = 10**6  # the pages' `page`: 50 rows a page
# gRPC's GetLeaderboard (SPEC section 13, rankr's limits): page_size 1..1000, offset 0..1,000,000.
GRPC_PAGE_SIZE_MAX = 1000
GRPC_OFFSET_MAX = 1_000_000
