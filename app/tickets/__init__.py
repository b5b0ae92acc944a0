"""The mirror of tickets from the ticketing systems, and their timeline."""
