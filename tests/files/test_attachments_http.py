"""Files travel with chat messages: upload, attach, list and download over HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.limits import ChatLimits
from app.files.store import blob_store
from app.main import create_app
from app.models import Attachment, Role, Ticket, User
from app.runtime import Runtime
from tests.factories import auth, create_ticket, create_user
from tests.files.support import EXE, PDF, PNG, make_bucket, post_message, upload


@dataclass
class People:
    agent: User
    agent_token: str
    agent2_token: str
    requester: User
    requester_token: str
    stranger_token: str
    ticket: Ticket
    other_ticket: Ticket


@pytest.fixture
async def people(session: AsyncSession) -> People:
    agent, agent_token = await create_user(session, role=Role.AGENT)
    _, agent2_token = await create_user(session, role=Role.AGENT)
    requester, requester_token = await create_user(session)
    _, stranger_token = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    other = await create_ticket(session, requester=requester)
    await session.commit()
    return People(
        agent, agent_token, agent2_token, requester, requester_token, stranger_token, ticket, other
    )


class TestUpload:
    async def test_the_file_is_stored_before_the_answer_and_typed_by_its_content(
        self, client: httpx.AsyncClient, people: People, runtime: Runtime
    ) -> None:
        # The client says HTML; the bytes say PNG, and the bytes win.
        sent = await upload(
            client, people.requester_token, people.ticket.id, filename="../../x.html",
            claimed_type="text/html",
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        out = sent.json()
        assert out["content_type"] == "image/png"
        assert out["filename"] == "x.html"
        assert out["size"] == len(PNG)
        assert out["url"] == f"/api/v1/attachments/{out['id']}"
        assert await runtime.blobs.get(hashlib.sha256(PNG).hexdigest()) == PNG

    async def test_other_kinds_are_refused_in_the_error_shape(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        sent = await upload(
            client, people.requester_token, people.ticket.id, EXE, filename="report.pdf"
        )
        assert sent.status_code == 415
        assert sent.json()["error"]["code"] == "unsupported_attachment_type"
        empty = await upload(client, people.requester_token, people.ticket.id, b"")
        assert empty.status_code == 422
        assert empty.json()["error"]["code"] == "empty_file"
        missing = await client.post(
            f"/api/v1/tickets/{people.ticket.id}/attachments",
            data={"nofile": "x"},
            headers=auth(people.requester_token),
        )
        assert missing.status_code == 422
        assert missing.json()["error"]["code"] == "invalid_input"

    async def test_an_upload_without_a_length_is_refused_before_it_is_read(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"--b\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n"
            yield PNG + b"\r\n--b--\r\n"

        sent = await client.post(
            f"/api/v1/tickets/{people.ticket.id}/attachments",
            content=chunks(),
            headers={
                **auth(people.requester_token),
                "Content-Type": "multipart/form-data; boundary=b",
            },
        )
        assert sent.status_code == 411
        assert sent.json()["error"]["code"] == "length_required"

    async def test_a_ticket_you_may_not_see_is_not_found(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        sent = await upload(client, people.stranger_token, people.ticket.id)
        assert sent.status_code == 404
        assert sent.json()["error"]["code"] == "not_found"


@pytest.fixture
async def small_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a 100-byte file limit and two files per message."""
    runtime.settings = runtime.settings.model_copy(
        update={"attachment_max_bytes": 100, "attachments_per_message": 2}
    )
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_limits_refuse_large_files_and_too_many_per_message(
    small_client: httpx.AsyncClient, people: People
) -> None:
    big = await upload(small_client, people.requester_token, people.ticket.id, PDF + b" " * 100)
    assert big.status_code == 413
    assert big.json()["error"] == {
        "code": "attachment_too_large",
        "message": "the file is larger than 100 bytes",
        "details": {"max_bytes": 100},
    }
    ids = [
        (await upload(small_client, people.requester_token, people.ticket.id, data)).json()["id"]
        for data in (PNG, PDF, b"log line\n")
    ]
    many = await post_message(
        small_client, people.requester_token, people.ticket.id, "files", attachments=ids
    )
    assert many.status_code == 422
    assert many.json()["error"]["code"] == "too_many_attachments"


class TestAttach:
    async def test_a_message_carries_its_files_and_lists_them(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (await upload(client, people.requester_token, people.ticket.id)).json()
        pdf = (
            await upload(client, people.requester_token, people.ticket.id, PDF, filename="a.pdf")
        ).json()
        sent = await post_message(
            client, people.requester_token, people.ticket.id, "see attached",
            attachments=[png["id"], pdf["id"]],
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
        assert sent.json()["attachments"] == [png, pdf]
        listed = await client.get(
            f"/api/v1/tickets/{people.ticket.id}/messages", headers=auth(people.agent_token)
        )
        assert listed.json()["items"][-1]["attachments"] == [png, pdf]

    async def test_a_retried_send_with_files_returns_the_first_message(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (await upload(client, people.requester_token, people.ticket.id)).json()
        first = await post_message(
            client, people.requester_token, people.ticket.id, "x",
            attachments=[png["id"]], client_msg_id="same",
        )  # fmt: skip
        again = await post_message(
            client, people.requester_token, people.ticket.id, "x",
            attachments=[png["id"]], client_msg_id="same",
        )  # fmt: skip
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["attachments"] == [png]

    async def test_only_your_own_unattached_uploads_of_this_ticket(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        agents = (await upload(client, people.agent_token, people.ticket.id)).json()
        theirs = await post_message(
            client, people.requester_token, people.ticket.id, "x", attachments=[agents["id"]]
        )
        assert theirs.status_code == 404
        assert theirs.json()["error"]["code"] == "attachment_not_found"
        elsewhere = (await upload(client, people.requester_token, people.other_ticket.id)).json()
        wrong_ticket = await post_message(
            client, people.requester_token, people.ticket.id, "x", attachments=[elsewhere["id"]]
        )
        assert wrong_ticket.status_code == 404
        mine = (await upload(client, people.requester_token, people.ticket.id)).json()
        ok = await post_message(
            client, people.requester_token, people.ticket.id, "x", attachments=[mine["id"]]
        )
        assert ok.status_code == 201
        reused = await post_message(
            client, people.requester_token, people.ticket.id, "y", attachments=[mine["id"]]
        )
        assert reused.status_code == 409
        assert reused.json()["error"]["code"] == "attachment_in_use"
        nothing = await post_message(
            client, people.requester_token, people.ticket.id, "z", attachments=[10**9]
        )
        assert nothing.status_code == 404


class TestDownload:
    async def test_an_image_is_served_inline_with_its_sniffed_type_and_a_sandbox(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (
            await upload(client, people.agent_token, people.ticket.id, claimed_type="text/html")
        ).json()
        await post_message(
            client, people.agent_token, people.ticket.id, "fixed", attachments=[png["id"]]
        )
        got = await client.get(png["url"], headers=auth(people.requester_token))
        assert got.status_code == 200
        assert got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"] == "inline; filename*=UTF-8''screenshot.png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"

    async def test_anything_else_is_a_download(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        sent = await upload(
            client, people.requester_token, people.ticket.id, b"<script>alert(1)</script>\n",
            filename="notes é.html", claimed_type="text/html",
        )  # fmt: skip
        got = await client.get(sent.json()["url"], headers=auth(people.requester_token))
        assert got.headers["content-type"] == "text/plain; charset=utf-8"
        assert got.headers["content-disposition"] == (
            "attachment; filename*=UTF-8''notes%20%C3%A9.html"
        )

    async def test_an_unattached_upload_is_its_uploaders_alone(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (await upload(client, people.agent_token, people.ticket.id)).json()
        assert (await client.get(png["url"], headers=auth(people.agent_token))).status_code == 200
        for token in (people.agent2_token, people.requester_token, people.stranger_token):
            denied = await client.get(png["url"], headers=auth(token))
            assert denied.status_code == 404
            assert denied.json()["error"]["code"] == "not_found"

    async def test_a_ticket_you_may_not_see_hides_its_files(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (await upload(client, people.requester_token, people.ticket.id)).json()
        await post_message(
            client, people.requester_token, people.ticket.id, "x", attachments=[png["id"]]
        )
        assert (await client.get(png["url"], headers=auth(people.agent2_token))).status_code == 200
        denied = await client.get(png["url"], headers=auth(people.stranger_token))
        missing = await client.get(
            "/api/v1/attachments/999999999", headers=auth(people.stranger_token)
        )
        assert denied.status_code == missing.status_code == 404
        assert denied.json() == missing.json()


class TestInternalStaysInternal:
    async def test_a_file_on_an_internal_message_never_reaches_an_end_user(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (await upload(client, people.agent_token, people.ticket.id)).json()
        sent = await post_message(
            client, people.agent_token, people.ticket.id, "root cause, see log",
            visibility="internal", attachments=[png["id"]],
        )  # fmt: skip
        assert sent.status_code == 201
        assert (await client.get(png["url"], headers=auth(people.agent2_token))).status_code == 200
        denied = await client.get(png["url"], headers=auth(people.requester_token))
        assert denied.status_code == 404
        listed = await client.get(
            f"/api/v1/tickets/{people.ticket.id}/messages", headers=auth(people.requester_token)
        )
        assert png["id"] not in {a["id"] for m in listed.json()["items"] for a in m["attachments"]}
        # Nor can the end user re-attach it to a public message to get at it.
        stolen = await post_message(
            client, people.requester_token, people.ticket.id, "x", attachments=[png["id"]]
        )
        assert stolen.status_code == 404

    async def test_an_agent_cannot_move_an_internal_file_to_a_public_message(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        png = (await upload(client, people.agent_token, people.ticket.id)).json()
        await post_message(
            client, people.agent_token, people.ticket.id, "internal",
            visibility="internal", attachments=[png["id"]],
        )  # fmt: skip
        public = await post_message(
            client, people.agent_token, people.ticket.id, "public", attachments=[png["id"]]
        )
        assert public.status_code == 409
        assert (
            await client.get(png["url"], headers=auth(people.requester_token))
        ).status_code == 404


async def test_deleting_the_message_takes_its_files_away(
    client: httpx.AsyncClient, people: People, session: AsyncSession
) -> None:
    png = (await upload(client, people.requester_token, people.ticket.id)).json()
    sent = await post_message(
        client, people.requester_token, people.ticket.id, "oops", attachments=[png["id"]]
    )
    deleted = await client.delete(
        f"/api/v1/messages/{sent.json()['id']}", headers=auth(people.requester_token)
    )
    assert deleted.status_code == 204
    for token in (people.requester_token, people.agent_token):
        assert (await client.get(png["url"], headers=auth(token))).status_code == 404
    listed = await client.get(
        f"/api/v1/tickets/{people.ticket.id}/messages", headers=auth(people.agent_token)
    )
    assert listed.json()["items"][-1]["attachments"] == []
    row = await session.scalar(select(Attachment).where(Attachment.id == png["id"]))
    assert row is not None
    assert row.discarded_at is not None  # the sweeper removes it


@pytest.fixture
async def s3_client(
    runtime: Runtime, s3_endpoint: str, s3_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its files in a real S3-compatible server (moto, on loopback)."""
    await make_bucket(s3_endpoint)
    runtime.files = blob_store(s3_url)
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await runtime.blobs.close()


async def test_files_in_an_s3_bucket_upload_and_download_the_same(
    s3_client: httpx.AsyncClient, people: People, runtime: Runtime
) -> None:
    png = (await upload(s3_client, people.requester_token, people.ticket.id)).json()
    assert await runtime.blobs.exists(hashlib.sha256(PNG).hexdigest())
    await post_message(
        s3_client, people.requester_token, people.ticket.id, "in S3", attachments=[png["id"]]
    )
    got = await s3_client.get(png["url"], headers=auth(people.agent_token))
    assert got.status_code == 200
    assert got.content == PNG


async def test_uploads_share_the_senders_rate_limit(runtime: Runtime, people: People) -> None:
    app = create_app(runtime.settings, runtime=runtime)
    app.state.chat_limits = ChatLimits(send_rate=0.001, send_burst=2)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        codes = [
            (await upload(client, people.requester_token, people.ticket.id)).status_code
            for _ in range(3)
        ]
        refused = await upload(client, people.requester_token, people.ticket.id)
    assert codes == [201, 201, 429]
    assert refused.json()["error"]["code"] == "rate_limited"
