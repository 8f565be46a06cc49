"""The system exporter: host health read from /proc at scrape time."""
