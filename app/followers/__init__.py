"""Follows of tickets and IT services, and the audiences they make (followers, subscribers)."""
