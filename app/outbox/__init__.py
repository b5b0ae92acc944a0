"""The outbox: decided notifications written with their event, and the relay that sends them."""
