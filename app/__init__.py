"""Socialdesk: the social layer for service desks."""
