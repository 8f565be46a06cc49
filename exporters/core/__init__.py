"""Runtime shared by every exporter: config, HTTP serving, auth, logging, self-metrics."""
