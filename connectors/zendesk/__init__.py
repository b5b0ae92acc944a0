"""The Zendesk Support connector (API v2), built against contracts/zendesk/README.md."""
