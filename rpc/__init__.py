"""gRPC (SPEC §13): rankr's `leaderboardscoring.v1.LeaderboardScoringService` and our own
`leaderboard.v1.LeaderboardService`, beside the standard health and reflection services
(docs/API.md, "gRPC").

- `requests`: a request message's board query, read by the API's one parser (`api.query`);
- `messages`: the selectors' values as the services' messages;
- `services`: the two services (reads through `scoring.selectors`; errors as status codes);
- `watch`: WatchLeaderboard's subscribers of the process's `api.watch.BoardHub`;
- `server`: the `grpc.aio` server with all four services, and its health probe;
- `management/commands/serve_grpc.py`: the process `make run` starts.
"""
