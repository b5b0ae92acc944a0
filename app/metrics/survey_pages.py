"""The survey page behind the one-click link: works without signing in, answered once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.deps import AppSettings, Session
from app.kit.clock import utcnow
from app.kit.errors import AppError
from app.kit.signing import Signer
from app.metrics import surveys
from app.web.context import render

router = APIRouter(include_in_schema=False)


def _signer(settings: AppSettings) -> Signer:
    return Signer(settings.require_secret_key(), surveys.PURPOSE)


@router.get("/survey/{token}", response_model=None)
async def survey_form(
    request: Request,
    token: str,
    session: Session,
    settings: AppSettings,
    rating: int | None = None,
) -> Response:
    try:
        survey = await surveys.check_token(session, _signer(settings), token, now=utcnow())
    except AppError as exc:
        return render(
            request,
            "survey.html",
            None,
            status_code=exc.status_code,
            error=exc.message,
            survey=None,
            token=token,
            rating=None,
        )
    chosen = rating if rating in range(1, 6) else None
    return render(
        request, "survey.html", None, survey=survey, token=token, rating=chosen, error=None
    )


@router.post("/survey/{token}", response_model=None)
async def survey_answer(
    request: Request, token: str, session: Session, settings: AppSettings
) -> Response:
    form = await request.form()
    try:
        survey = await surveys.check_token(session, _signer(settings), token, now=utcnow())
        rating = int(str(form.get("rating", "0")))
        if rating not in range(1, 6):
            return render(
                request,
                "survey.html",
                None,
                status_code=422,
                survey=survey,
                token=token,
                rating=None,
                error="Choose a rating from 1 to 5.",
            )
        await surveys.do_answer(
            session,
            survey=survey,
            rating=rating,
            comment=str(form.get("comment", "")),
            now=utcnow(),
        )
    except ValueError:
        return render(
            request,
            "survey.html",
            None,
            status_code=422,
            survey=None,
            token=token,
            rating=None,
            error="Choose a rating from 1 to 5.",
        )
    except AppError as exc:
        return render(
            request,
            "survey.html",
            None,
            status_code=exc.status_code,
            error=exc.message,
            survey=None,
            token=token,
            rating=None,
        )
    return render(
        request,
        "survey.html",
        None,
        survey=survey,
        token=token,
        rating=rating,
        error=None,
        thanked=True,
    )
