"""The bus (memory or Redis, chosen by URL) and the /ws endpoint."""
