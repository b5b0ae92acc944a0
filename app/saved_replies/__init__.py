"""Saved replies: personal and shared texts with placeholders, for the chat composer."""
