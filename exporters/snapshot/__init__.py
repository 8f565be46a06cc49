"""`alismon snapshot`: the dashboards as static HTML pages, for stacks without Grafana."""
