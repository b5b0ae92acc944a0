"""Files with a public note: uploads, one journal, idempotent retries, refusals, and the
files coming back through the poll (shared/peers/redmine/README.md § Add a public note;
the upload answers are the peer's own, probed on Redmine 5.0.4: see fake_redmine.py)."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from connectors.base import (
    ChangeKind,
    FileRefused,
    FileToSend,
    NotSupported,
    TransientError,
    Visibility,
    WriteNotApplied,
    add_comment_with_files,
)
from tests.connectors.fake_support import drain
from tests.connectors.redmine.fake_redmine import FakeRedmine, make_connector

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005fe02fea7d6a4"
    "4a0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def file(name: str, data: bytes, content_type: str = "image/png") -> FileToSend:
    return FileToSend(name, content_type, len(data), hashlib.sha256(data).hexdigest(), data)


def one_issue() -> FakeRedmine:
    fake = FakeRedmine()
    fake.create("VPN does not connect")
    return fake


def calls(fake: FakeRedmine, method: str, path: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.method == method and r.url.path == path]


class TestAttach:
    async def test_files_and_text_land_in_one_journal(self) -> None:
        fake = one_issue()
        journal_id = await make_connector(fake).add_comment(
            "1", "Here is the log.", Visibility.PUBLIC, "chat:7",
            files=[file("screen.png", PNG), file("vpn.pdf", PDF, "application/pdf")],
        )  # fmt: skip
        [journal] = fake.issues[1]["journals"]
        assert journal_id == str(journal["id"])
        assert journal["notes"] == "Here is the log.\n\n— via Socialdesk [sd:chat:7]"
        assert journal["private_notes"] is False
        assert [(d["property"], d["new_value"]) for d in journal["details"]] == [
            ("attachment", "screen.png"),
            ("attachment", "vpn.pdf"),
        ]
        stored = [fake.attachments[int(d["name"])] for d in journal["details"]]
        assert [(a["data"], a["content_type"]) for a in stored] == [
            (PNG, "image/png"),
            (PDF, "application/pdf"),
        ]

    async def test_uploads_are_raw_bytes_and_the_put_names_their_tokens(self) -> None:
        fake = one_issue()
        await make_connector(fake).add_comment(
            "1", "Screenshot", Visibility.PUBLIC, "k", files=[file("screen.png", PNG)]
        )
        [upload] = calls(fake, "POST", "/uploads.json")
        assert upload.headers["Content-Type"] == "application/octet-stream"
        assert upload.url.params["filename"] == "screen.png"
        assert upload.content == PNG
        [put] = calls(fake, "PUT", "/issues/1.json")
        uploads = json.loads(put.content)["issue"]["uploads"]
        assert uploads == [
            {
                "token": f"1.{hashlib.sha256(PNG).hexdigest()}",
                "filename": "screen.png",
                "content_type": "image/png",
            }
        ]

    async def test_a_reader_is_called_only_when_the_file_is_sent(self) -> None:
        fake = one_issue()
        reads: list[str] = []

        async def read() -> bytes:
            reads.append("screen.png")
            return PNG

        lazy = FileToSend(
            "screen.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest(), read
        )
        await make_connector(fake).add_comment("1", "x", Visibility.PUBLIC, "k", files=[lazy])
        assert reads == ["screen.png"]
        assert fake.attachments[1]["data"] == PNG

    async def test_a_retry_finds_the_first_write_and_uploads_nothing(self) -> None:
        fake = one_issue()
        connector = make_connector(fake)
        files = [file("screen.png", PNG)]
        first = await connector.add_comment("1", "Hi", Visibility.PUBLIC, "chat:9", files=files)
        again = await connector.add_comment("1", "Hi", Visibility.PUBLIC, "chat:9", files=files)
        assert again == first
        assert len(calls(fake, "POST", "/uploads.json")) == 1
        assert len(calls(fake, "PUT", "/issues/1.json")) == 1
        assert len(fake.issues[1]["journals"]) == 1
        assert len(fake.attachments) == 1

    async def test_a_retry_after_a_lost_answer_does_not_attach_twice(self) -> None:
        fake = one_issue()
        connector = make_connector(fake)
        real = fake.handle

        def put_lands_answer_lost(request: httpx.Request) -> httpx.Response:
            response = real(request)
            if request.method == "PUT":
                raise httpx.ReadTimeout("the answer never came", request=request)
            return response

        fake.handle = put_lands_answer_lost  # type: ignore[method-assign]
        flaky = make_connector(fake)
        with pytest.raises(TransientError):
            await flaky.add_comment(
                "1", "Hi", Visibility.PUBLIC, "chat:9", files=[file("a.png", PNG)]
            )
        fake.handle = real  # type: ignore[method-assign]
        journal_id = await connector.add_comment(
            "1", "Hi", Visibility.PUBLIC, "chat:9", files=[file("a.png", PNG)]
        )
        [journal] = fake.issues[1]["journals"]
        assert journal_id == str(journal["id"])
        assert len(fake.attachments) == 1

    async def test_without_files_the_put_is_as_it_always_was(self) -> None:
        fake = one_issue()
        await make_connector(fake).add_comment("1", "Hi", Visibility.PUBLIC, "k")
        [put] = calls(fake, "PUT", "/issues/1.json")
        assert "uploads" not in json.loads(put.content)["issue"]
        assert calls(fake, "POST", "/uploads.json") == []


class TestInternal:
    async def test_files_with_an_internal_note_are_refused_before_anything_is_sent(
        self,
    ) -> None:
        fake = one_issue()
        with pytest.raises(NotSupported, match="cannot keep attachments internal"):
            await make_connector(fake).add_comment(
                "1", "secret", Visibility.INTERNAL, "k", files=[file("secret.png", PNG)]
            )
        assert fake.requests == []

    async def test_the_contract_helper_never_hands_files_to_an_internal_note(self) -> None:
        fake = one_issue()
        await add_comment_with_files(
            make_connector(fake), "1", "secret", Visibility.INTERNAL, "k",
            [file("secret.png", PNG)],
        )  # fmt: skip
        [journal] = fake.issues[1]["journals"]
        assert (journal["private_notes"], journal["details"]) == (True, [])
        assert calls(fake, "POST", "/uploads.json") == []
        assert fake.attachments == {}


class TestRefusals:
    async def test_a_file_over_the_limit_is_refused_with_the_limit_and_nothing_written(
        self,
    ) -> None:
        fake = one_issue()
        fake.max_upload = 100
        small, big = file("small.png", PNG), file("big.pdf", PDF + b"x" * 200, "application/pdf")
        with pytest.raises(FileRefused) as refused:
            await make_connector(fake).add_comment(
                "1", "Logs", Visibility.PUBLIC, "k", files=[small, big]
            )
        assert refused.value.refused == (big,)
        assert refused.value.max_bytes == 100
        assert "'big.pdf'" in refused.value.message
        assert "maximum allowed file size (100)" in refused.value.message
        assert refused.value.code == "file_refused"
        assert fake.issues[1]["journals"] == []
        assert calls(fake, "PUT", "/issues/1.json") == []

    async def test_once_the_limit_is_known_larger_files_are_not_uploaded(self) -> None:
        fake = one_issue()
        fake.max_upload = 100
        files = [
            file("a.pdf", PDF + b"a" * 200, "application/pdf"),
            file("b.pdf", PDF + b"b" * 300),
        ]
        with pytest.raises(FileRefused) as refused:
            await make_connector(fake).add_comment("1", "x", Visibility.PUBLIC, "k", files=files)
        assert refused.value.refused == tuple(files)
        assert len(calls(fake, "POST", "/uploads.json")) == 1

    async def test_a_proxy_answering_413_is_a_refusal_too(self) -> None:
        fake = one_issue()
        fake.faults["/uploads.json"] = httpx.Response(413, text="<html>Too Large</html>")
        with pytest.raises(FileRefused, match=r"'screen.png' \(\d+ bytes\) as too large \(413\)"):
            await make_connector(fake).add_comment(
                "1", "x", Visibility.PUBLIC, "k", files=[file("screen.png", PNG)]
            )
        assert fake.issues[1]["journals"] == []

    async def test_bytes_that_are_not_the_file_described_are_never_sent(self) -> None:
        fake = one_issue()
        wrong = FileToSend("screen.png", "image/png", len(PNG), "0" * 64, PNG)
        with pytest.raises(ValueError, match="not the file described"):
            await make_connector(fake).add_comment("1", "x", Visibility.PUBLIC, "k", files=[wrong])
        assert calls(fake, "POST", "/uploads.json") == []

    async def test_an_upload_stored_with_other_bytes_is_not_attached(self) -> None:
        fake = one_issue()
        real = fake.upload

        def corrupting(request: httpx.Request, user_id: int) -> httpx.Response:
            garbled = httpx.Request("POST", request.url, headers=request.headers, content=b"x")
            return real(garbled, user_id)

        fake.upload = corrupting  # type: ignore[method-assign]
        with pytest.raises(TransientError, match="other bytes"):
            await make_connector(fake).add_comment(
                "1", "x", Visibility.PUBLIC, "k", files=[file("screen.png", PNG)]
            )
        assert fake.issues[1]["journals"] == []

    async def test_a_journal_stored_without_its_files_is_reported(self) -> None:
        fake = one_issue()
        fake._attach = lambda uploads: []  # type: ignore[method-assign]  # tokens ignored
        with pytest.raises(WriteNotApplied, match="with 0 of its 1 files"):
            await make_connector(fake).add_comment(
                "1", "x", Visibility.PUBLIC, "k", files=[file("screen.png", PNG)]
            )


class TestComingBack:
    async def test_our_files_come_back_as_our_own_write(self) -> None:
        fake = one_issue()
        connector = make_connector(fake)
        journal_id = await connector.add_comment(
            "1", "Screenshot", Visibility.PUBLIC, "chat:3", files=[file("screen.png", PNG)]
        )
        fake.tick(10)
        changes, _ = await drain(connector, None)
        journal = [c for c in changes if c.source_id.startswith(f"redmine:journal:{journal_id}")]
        assert [(c.kind, c.external_comment_id) for c in journal] == [
            (ChangeKind.UPDATED, journal_id),  # the attachment detail
            (ChangeKind.COMMENTED, journal_id),
        ]
        assert {c.payload["socialdesk_idempotency_key"] for c in journal} == {"chat:3"}

    async def test_files_someone_else_attached_are_still_their_update(self) -> None:
        fake = one_issue()
        fake.journal(
            1, 6, notes="my screenshot",
            details=[{"property": "attachment", "name": "9", "old_value": None,
                      "new_value": "mine.png"}],
        )  # fmt: skip
        fake.tick(10)
        changes, _ = await drain(make_connector(fake), None)
        [detail] = [c for c in changes if c.kind is ChangeKind.UPDATED]
        assert detail.external_comment_id is None
        assert "socialdesk_idempotency_key" not in detail.payload
