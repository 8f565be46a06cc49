"""`alismon lint`: the checks a user's CI runs on the generated rules, dashboards and provisioning."""
