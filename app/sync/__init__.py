"""Runs connectors: instances, cursors, polling, backoff, ingestion."""
