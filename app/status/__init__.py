"""IT service status: services, incidents and updates, the status page, feeds, subscribers."""
