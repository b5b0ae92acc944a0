"""The guard where content leaves: the egress check (internal stays internal) and redaction."""
