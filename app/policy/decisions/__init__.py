"""Deciding who hears what: audiences, event sources, notify, approvals and their release."""
