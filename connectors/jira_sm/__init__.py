"""Jira Service Management Cloud: platform REST API v3 plus the servicedeskapi."""
