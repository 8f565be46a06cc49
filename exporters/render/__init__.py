"""`alismon render`: rules (and later dashboards and provisioning) from templates plus config.yml."""
