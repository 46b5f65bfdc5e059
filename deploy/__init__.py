"""Running the service: monitoring configs, and the clustered topology for bin/cluster and the tests."""
