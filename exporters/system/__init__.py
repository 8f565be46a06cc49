"""The system exporter: host health collected at scrape time with psutil."""
