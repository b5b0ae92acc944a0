"""Redmine connector: polls issues and journals over Redmine's REST API (no webhooks)."""
