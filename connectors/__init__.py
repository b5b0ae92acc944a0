"""Ticketing-system connectors. Imports only stdlib, httpx, pydantic and connectors.base."""
