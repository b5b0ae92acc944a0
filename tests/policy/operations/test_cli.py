"""`socialdesk policy validate|apply|simulate FILE`, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.clock import utcnow
from app.models import PolicyVersion
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_user
from tests.policy.operations.test_simulate import WITHOUT_RESOLUTION
from tests.policy.support import policy_yaml, store_event, ticket_for


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=settings.database_url,
        SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY,
        SOCIALDESK_LOG_LEVEL="warning",
    )
    return subprocess.run(
        [sys.executable, "-m", "app", "policy", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_prints_ok_or_every_issue(settings: Settings, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(WITHOUT_RESOLUTION)
    result = _run(settings, "validate", str(good))
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        policy_yaml("""
            - id: typo
              on: [ticket.resolved]
              to: [requester]
              via: [emial]
            - id: leaky
              on: [ticket.commented]
              to: [requester]
              via: [email]
        """)
    )
    result = _run(settings, "validate", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"{bad}: line 5: rule 'typo': via[0]: 'emial' is not a known")
    assert lines[1].startswith(f"{bad}: line 6: rule 'leaky': when: ticket.commented may be")
    assert "Traceback" not in result.stderr
    missing = _run(settings, "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("socialdesk: cannot read")


async def test_apply_then_simulate(
    settings: Settings, tmp_path: Path, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        moment = utcnow() - timedelta(hours=1)
        await store_event(
            session, ticket, kind="ticket.resolved", new="resolved", occurred_at=moment
        )
        await session.commit()
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(WITHOUT_RESOLUTION)

    simulated = _run(settings, "simulate", str(candidate), "--since", moment.isoformat())
    assert simulated.returncode == 0, simulated.stderr
    diff = json.loads(simulated.stdout)
    assert diff["summary"]["removed"] == 2
    assert {e["recipient_user_id"] for e in diff["removed"]} == {rita.id}

    applied = _run(settings, "apply", str(candidate))
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout) == {"version": 2}
    async with committed_db() as session:
        active = await session.scalar(select(PolicyVersion).where(PolicyVersion.is_active))
        assert active is not None
        assert (active.version, active.yaml_text) == (2, WITHOUT_RESOLUTION)

    # Against itself the candidate changes nothing.
    same = _run(settings, "simulate", str(candidate), "--since", moment.isoformat())
    assert json.loads(same.stdout)["summary"]["removed"] == 0
    wrong = _run(settings, "simulate", str(candidate), "--since", "yesterday")
    assert wrong.returncode == 2
    assert "--since expects an ISO 8601 time" in wrong.stderr
