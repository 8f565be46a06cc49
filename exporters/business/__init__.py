"""The business exporter: application events pushed to an ingest API, stored durably, exposed as metrics."""
