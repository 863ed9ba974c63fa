"""The FastAPI application: pages, the review form and video files. Only run directories under ``runs_dir``.

Every request passes :class:`agent.app.web.guard.Guard` first (token, ``Host``, and for a POST its origin or
the form's CSRF token); anything else gets 403 before any page or run is touched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from rewardsmith.agent.app.web import views
from rewardsmith.agent.app.web.guard import SAFE_METHODS, Guard
from rewardsmith.agent.design.lineage import tree_view
from rewardsmith.agent.records.review import HumanFeedback, LockedComponent, PairChoice
from rewardsmith.agent.report import plots
from rewardsmith.agent.review.gate import load_result, open_session, submit_feedback
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import ReviewError, RewardSmithError

TEMPLATES = Path(__file__).parent / "templates"
CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'; style-src 'self' 'unsafe-inline'")
"""No script runs and nothing loads from elsewhere, whatever a page quotes (the pages need no script; styles inline)."""


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def create_app(runs_dir: Path, guard: Guard) -> FastAPI:
    """The web app over every run directory in ``runs_dir``; ``guard`` decides which requests are served."""
    app = FastAPI(title="RewardSmith", docs_url=None, redoc_url=None, openapi_url=None)
    runs_dir = runs_dir.resolve()

    @app.middleware("http")
    async def check_request(request: Request, call_next: Any) -> Response:
        host = request.headers.get("host")
        if not guard.host_ok(host):
            return _forbidden(f"Host {host!r} is not this server's address; open the link `rewardsmith ui` printed")
        in_url = request.query_params.get("token")
        if not (guard.token_ok(in_url) or guard.token_ok(request.cookies.get(guard.cookie))):
            return _forbidden("open the link with ?token=… that `rewardsmith ui` printed")
        origin = request.headers.get("origin")
        if request.method not in SAFE_METHODS and origin not in (None, "null") and not guard.same_origin(origin):
            return _forbidden(f"a form sent from {origin!r}, not from this app")
        response: Response
        if in_url is not None and request.method == "GET":
            # The token moves into the cookie and out of the address bar, history and any Referer.
            rest = request.url.remove_query_params("token")
            response = RedirectResponse(rest.path + (f"?{rest.query}" if rest.query else ""), status_code=303)
        else:
            response = await call_next(request)
        response.set_cookie(guard.cookie, guard.token, httponly=True, samesite="strict")
        response.headers["content-security-policy"] = CSP
        return response

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        """Errors (404: no such run, round or candidate) as a page with a way back, not raw JSON."""
        return page("error.html", exc.status_code, code=exc.status_code, detail=str(exc.detail))

    def png(data: bytes) -> Response:
        return Response(data, media_type="image/png", headers={"cache-control": "no-store"})

    def store_of(run: str) -> RunStore:
        path = runs_dir / run
        # Only names of run directories directly under runs_dir: no path ever comes from the URL.
        if "/" in run or run.startswith(".") or not RunStore(path).exists:
            raise HTTPException(404, f"no run {run!r} in {runs_dir}")
        return RunStore(path)

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = _templates().get_template(name).render(code_css=views.CODE_CSS, **context)
        return HTMLResponse(html, status)

    @app.get("/", response_class=HTMLResponse)
    def runs_page() -> HTMLResponse:
        return page("runs.html", runs=views.list_runs(runs_dir), runs_dir=str(runs_dir))

    @app.get("/runs/{run}", response_class=HTMLResponse)
    def run_page(run: str) -> HTMLResponse:
        store = store_of(run)
        record, summary = store.load_record(), store.load_summary()
        state = views.run_state(store, summary)
        return page("run.html", run=run, record=record, summary=summary, rounds=views.rounds(store), state=state,
                    live=views.live_progress(store), refresh=state == "running", cost=views.cost(store, summary),
                    result=views.result(summary), baselines=views.baseline_rows(store))

    @app.get("/runs/{run}/lineage", response_class=HTMLResponse)
    def lineage_page(run: str) -> HTMLResponse:
        return page("lineage.html", run=run, rows=tree_view(store_of(run)))

    @app.get("/runs/{run}/fitness.png")
    def fitness_png(run: str) -> Response:
        return png(plots.run_fitness_png(store_of(run)))

    @app.get("/runs/{run}/candidates/{cid}/training.png")
    def training_png(run: str, cid: str) -> Response:
        store = store_of(run)
        r = store.load_result_by_id(cid)
        if r is None or r.training is None or not r.training.checkpoints:
            raise HTTPException(404, f"{cid} has no training statistics")
        return png(plots.training_png(plots.Curve(label=cid, training=r.training), plots.baselines_of(store)))

    @app.get("/runs/{run}/rounds/{n}/curves.png")
    def curves_png(run: str, n: int, request: Request) -> Response:
        store = store_of(run)
        chosen = request.query_params.getlist("c")
        results = [r for r in store.round_results(n) if not chosen or r.candidate.id in chosen]
        return png(plots.round_compare_png(store, results, f"round {n}: " + (", ".join(chosen) or "every candidate")))

    @app.get("/runs/{run}/rounds/{n}/compare", response_class=HTMLResponse)
    def compare_page(run: str, n: int, request: Request) -> HTMLResponse:
        store = store_of(run)
        if n not in store.rounds():
            raise HTTPException(404, f"run {run} has no round {n}")
        results = store.round_results(n)
        ids = [r.candidate.id for r in results]
        chosen = [c for c in request.query_params.getlist("c") if c in ids] or ids
        trained = [r.candidate.id for r in results if r.training is not None and r.training.checkpoints]
        a = request.query_params.get("a") or (chosen[0] if chosen else "")
        b = request.query_params.get("b") or (chosen[1] if len(chosen) > 1 else a)
        by_id = {r.candidate.id: r for r in results}
        if a not in by_id or b not in by_id:
            raise HTTPException(404, f"round {n} has no candidate {a if a not in by_id else b}")
        diff = views.pair_diff_html(store, by_id[a], by_id[b])
        query = "&".join(f"c={c}" for c in chosen)
        return page("compare.html", run=run, n=n, ids=ids, chosen=chosen, trained=trained, a=a, b=b, diff=diff,
                    cards=[views.card(store, run, by_id[c]) for c in chosen], query=query, request=None)

    @app.get("/runs/{run}/rounds/{n}", response_class=HTMLResponse)
    def round_page(run: str, n: int, submitted: int = 0) -> HTMLResponse:
        return _round(run, n, submitted=bool(submitted))

    def _round(run: str, n: int, submitted: bool = False, error: str = "", status: int = 200) -> HTMLResponse:
        store = store_of(run)
        if n not in store.rounds():
            raise HTTPException(404, f"run {run} has no round {n}")
        request, human = views.review_state(store, n)
        reviewing = request is not None and human is None
        cards = views.cards(store, run, n, request if reviewing else None)
        components = sorted({c for card in cards for c in card.result.validation.components})
        locked_keys = [f"{lc.source}:{lc.name}" for lc in request.locked] if request is not None else []
        return page("round.html", status, run=run, n=n, cards=cards, request=request, human=human,
                    reviewing=reviewing, submitted=submitted, error=error, components=components,
                    table=views.round_table(store, n),
                    feedback=store.load_feedback(n), locked_keys=locked_keys,
                    csrf=guard.csrf_for(review_path(run, n)))

    @app.post("/runs/{run}/rounds/{n}/review", response_class=HTMLResponse)
    async def review(run: str, n: int, request: Request) -> Response:
        store = store_of(run)
        form = await request.form()
        csrf = form.get("csrf")
        if not guard.post_allowed(request.headers.get("origin"), request.headers.get("referer"),
                                  review_path(run, n), csrf if isinstance(csrf, str) else None):
            return _forbidden("a form submission that did not come from this app's review page")
        try:
            session = open_session(store, n)
            feedback = parse_form(form, session.request.round, {c: r.candidate.code or ""
                                                                for c, r in session.results.items()})
            await run_in_threadpool(submit_feedback, session, feedback)
        except RewardSmithError as err:
            return _round(run, n, error=str(err), status=400)
        return RedirectResponse(f"/runs/{run}/rounds/{n}?submitted=1", status_code=303)

    @app.get("/runs/{run}/candidates/{cid}", response_class=HTMLResponse)
    def candidate_page(run: str, cid: str) -> HTMLResponse:
        store = store_of(run)
        try:
            r = load_result(store, cid)
        except RewardSmithError as err:
            raise HTTPException(404, str(err)) from None
        critique = views.markdown_html(r.critique.text) if r.critique else None
        return page("candidate.html", run=run, card=views.card(store, run, r), diff=views.diff_html(store, r),
                    has_plot=r.training is not None and bool(r.training.checkpoints), critique=critique,
                    baselines=views.baseline_rows(store))

    @app.get("/runs/{run}/candidates/{cid}/video.mp4")
    def video(run: str, cid: str) -> FileResponse:
        store = store_of(run)
        try:
            r = load_result(store, cid)
        except RewardSmithError as err:
            raise HTTPException(404, str(err)) from None
        path = store.files_of(r.candidate).video
        if not path.is_file():
            raise HTTPException(404, f"{cid} has no video")
        return FileResponse(path, media_type="video/mp4")

    @app.get("/runs/{run}/candidates/{cid}/critic/{index}.jpg")
    def critic_frame(run: str, cid: str, index: int) -> FileResponse:
        """A frame the critic was sent (``critic/frame_NN.jpg``)."""
        store = store_of(run)
        try:
            r = load_result(store, cid)
        except RewardSmithError as err:
            raise HTTPException(404, str(err)) from None
        if not 0 <= index < 100:
            raise HTTPException(404, f"no critic frame {index}")
        path = store.files_of(r.candidate).critic_frame(index)
        if not path.is_file():
            raise HTTPException(404, f"{cid} has no critic frame {index}")
        return FileResponse(path, media_type="image/jpeg")

    return app


def review_path(run: str, n: int) -> str:
    """Where the review form of round ``n`` posts to (its CSRF token is bound to this path)."""
    return f"/runs/{run}/rounds/{n}/review"


def _forbidden(why: str) -> HTMLResponse:
    return HTMLResponse(f"forbidden: {why}", 403)


def parse_form(form: FormData, rnd: int, codes: dict[str, str]) -> HumanFeedback:
    """The review form as a :class:`HumanFeedback`; ids and components are checked by ``submit_feedback``."""

    def one(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    pairs = []
    for i in (1, 2):
        winner, loser = one(f"pair_winner_{i}"), one(f"pair_loser_{i}")
        if winner or loser:
            if not (winner and loser):
                raise ReviewError(f"pairwise choice {i}: pick both the better and the worse candidate")
            pairs.append(PairChoice(winner, loser, one(f"pair_comment_{i}")))
    locks = []
    for value in form.getlist("lock"):
        source, sep, name = str(value).partition(":")
        if not sep:
            raise ReviewError(f"malformed lock {value!r}; expected CANDIDATE:COMPONENT")
        locks.append(LockedComponent(name, source))
    edits = [(cid, str(form.get(f"edit_{cid}") or "")) for cid in codes if f"edit_{cid}" in form]
    changed = [(cid, code) for cid, code in edits if _normal(code) != _normal(codes[cid])]
    if len(changed) > 1:
        raise ReviewError(f"edit one candidate per review; you changed {', '.join(c for c, _ in changed)}")
    action = one("action") or "continue"
    if action not in ("continue", "stop"):
        raise ReviewError(f"unknown action {action!r}; choose continue or stop")
    return HumanFeedback(
        round=rnd, reviewer="web", best=one("best") or None, worst=one("worst") or None, pairs=tuple(pairs), text=one("text"),
        edited_from=changed[0][0] if changed else None, edited_code=changed[0][1] if changed else None,
        locked=_dedupe(locks), forbidden=tuple(dict.fromkeys(str(v) for v in form.getlist("forbid"))),
        action="stop" if action == "stop" else "continue",
    )


def _normal(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.replace("\r\n", "\n").strip().splitlines())


def _dedupe(locks: list[LockedComponent]) -> tuple[LockedComponent, ...]:
    by_name: dict[str, LockedComponent] = {}
    for lc in locks:
        by_name.setdefault(lc.name, lc)
    return tuple(by_name.values())
