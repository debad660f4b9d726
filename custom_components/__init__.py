"""Custom integrations of this repository, imported before any test config dir."""
