"""The Freshservice connector (API v2), built against contracts/freshservice/README.md."""
