"""Status webhooks: which published updates go to which admin-registered endpoint, and how."""
