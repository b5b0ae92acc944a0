"""Notifications: preferences, the in-app inbox, digests, unsubscribe, and the channels."""
