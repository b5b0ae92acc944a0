"""The scripted connectors stand in for ticketing systems in the sync unit tests."""

from __future__ import annotations

import pytest

from connectors import registry
from tests.sync.scripted import ScriptedConnector, WritingConnector


@pytest.fixture(autouse=True)
def scripted_kinds() -> None:
    registry.register(ScriptedConnector)
    registry.register(WritingConnector)
    ScriptedConnector.script = []
    ScriptedConnector.cursors_seen = []
    WritingConnector.writes = []
    WritingConnector.on_write = []
