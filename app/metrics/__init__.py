"""Figures that show the value: SLA acted-upon share, response times, CSAT, engagement."""
