"""create_app(): routers, error handlers and the process lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app import health
from app.auth.endpoints import router as identity_router
from app.chat.endpoints import router as chat_router
from app.config import Settings, get_settings
from app.files.endpoints import router as files_router
from app.followers.endpoints import router as following_router
from app.kit import log_redaction
from app.kit.errors import install_error_handlers
from app.metrics.endpoints import router as metrics_router
from app.metrics.survey_pages import router as survey_router
from app.notifications.endpoints import router as notifications_router
from app.notifications.unsubscribe import router as unsubscribe_router
from app.outbox.endpoints import router as deliveries_router
from app.policy.endpoints import router as policy_router
from app.realtime.connection import ExposeServerSend
from app.realtime.hub import close_hub
from app.realtime.ws import router as ws_router
from app.runtime import Runtime
from app.saved_replies.endpoints import router as saved_replies_router
from app.status.endpoints import router as status_api_router
from app.status.public.endpoints import router as status_page_router
from app.sync.endpoints import router as connectors_router
from app.tickets.endpoints import router as tickets_router
from app.web.admin import router as web_admin_router
from app.web.inbox_pages import router as web_inbox_router
from app.web.link_pages import router as web_links_router
from app.web.pages import router as web_router
from app.web.policy_pages import router as web_policy_router
from app.web.saml_pages import router as web_saml_router
from app.web.saved_replies_pages import router as web_saved_replies_router
from app.web.security import SecurityHeaders
from app.web.services_admin import router as web_services_router
from app.web.sso_pages import router as web_sso_router
from app.web.staff import router as web_staff_router
from app.web.status_desk import router as web_status_desk_router
from app.web.token_pages import router as web_tokens_router
from app.wiring import wire_domains


def attach(app: FastAPI, runtime: Runtime) -> None:
    """Expose the runtime to request handlers (dependencies read app.state)."""
    app.state.runtime = runtime
    app.state.settings = runtime.settings
    app.state.sessionmaker = runtime.sessionmaker
    app.state.bus = runtime.bus
    app.state.secret_box = runtime.box
    app.state.http = runtime.http
    app.state.files = runtime.blobs


def create_app(
    settings: Settings | None = None, *, run_workers: bool = False, runtime: Runtime | None = None
) -> FastAPI:
    """The ASGI app. Give `runtime` to share one (tests); otherwise it is opened at start."""
    settings = settings or get_settings()
    wire_domains()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log_redaction.install()  # uvicorn has configured its loggers by now
        if runtime is not None:
            attach(app, runtime)
            try:
                yield
            finally:
                await close_hub(app)  # chat: the hub's room and writer tasks
            return
        owned = await Runtime.open(settings)
        attach(app, owned)
        if run_workers:
            owned.start_workers()
            if settings.mail_in_listen:  # the embedded shape: replies by SMTP into this process
                host, _, port = settings.mail_in_listen.rpartition(":")
                await owned.start_mail_listener(host or "127.0.0.1", int(port))
        try:
            yield
        finally:
            await close_hub(app)  # chat: the hub's room and writer tasks
            await owned.close()

    app = FastAPI(
        title="Socialdesk",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    if runtime is not None:
        attach(app, runtime)
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ExposeServerSend)  # outermost: live chat writes frames directly
    static = Path(__file__).parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    app.include_router(health.router)
    app.include_router(identity_router)
    app.include_router(tickets_router)
    app.include_router(chat_router)
    app.include_router(saved_replies_router)  # the composer's saved replies (issue 17)
    app.include_router(files_router)  # chat attachments (issue 16)
    app.include_router(ws_router)
    app.include_router(connectors_router)
    app.include_router(metrics_router)
    app.include_router(survey_router)
    app.include_router(status_api_router)
    app.include_router(status_page_router)
    app.include_router(web_router)
    app.include_router(web_sso_router)  # single sign-on (issue 19)
    app.include_router(web_saml_router)  # SAML 2.0 sign-in (issue 19)
    app.include_router(web_tokens_router)
    app.include_router(web_links_router)  # ticket links for requesters (issue 19)
    app.include_router(web_admin_router)
    app.include_router(web_staff_router)
    app.include_router(web_saved_replies_router)
    app.include_router(web_policy_router)
    app.include_router(web_inbox_router)
    app.include_router(web_status_desk_router)
    app.include_router(web_services_router)
    app.include_router(policy_router)
    app.include_router(following_router)  # notifications (issue 6)
    app.include_router(notifications_router)
    app.include_router(unsubscribe_router)
    app.include_router(deliveries_router)
    return app
