"""Request Tracker connector: follows a queue's transactions over RT's REST 2 API."""
