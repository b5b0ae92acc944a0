"""Ticket chat: messages, rooms, read state, mentions, write-back to the ticket."""
