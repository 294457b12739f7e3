"""The ASGI application: :func:`create_app` builds it, :func:`serve` runs it with uvicorn.

Routes
    ``POST /v1/sourcing``, ``/v1/periods``, ``/v1/assignments``, ``/v1/coverage``,
    ``/v1/portions``: one per capability (:mod:`fairalloc.service.capabilities`); the body is
    read on the event loop and everything else — validation, the transform, writing the
    response — runs in a worker thread, or for a large body in a worker process
    (:mod:`fairalloc.service.workers`), so one large request does not stall the others.
    ``POST /portions/``: the seed-compatible portions exchange, names from the product
    catalogue; ``GET/POST /products/``, ``GET/PUT/DELETE /products/{id}``: the catalogue
    (:mod:`fairalloc.service.catalogue`). ``GET /healthz``: liveness. ``/docs``: the OpenAPI page.

Errors
    Every error is a JSON object ``{"error": type, "detail": message, …}``. A library error
    (:class:`~fairalloc.transforms.errors.FairallocError`, message naming the keys, the keys
    under ``"keys"``) is 422 — 404 for product ids with no product, 409 for a product id
    taken; a body that does not validate is 422 with each offending field's location under
    ``"errors"``; a body over the limit is 413 (:class:`BodyLimit`: a ``Content-Length`` above
    it is refused before reading, a body without one is counted while it arrives). No traceback
    ever reaches a response; an unexpected failure is a 500 whose details go to the server log
    only.

Examples
--------
>>> app = create_app("sqlite://")
>>> sorted(r.path for r in app.routes if r.path.startswith("/v1/"))
['/v1/assignments', '/v1/coverage', '/v1/periods', '/v1/portions', '/v1/sourcing']
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from fairalloc.service.catalogue import Catalogue
from fairalloc.service.models import REQUESTS, Distribution, ProductIn, ProductName
from fairalloc.service.settings import HOST, MAX_BODY_BYTES, PORT, PROCESS_BODY_BYTES
from fairalloc.service.workers import ERRORS_SHOWN, ProcessWorkers, reraise, work
from fairalloc.transforms.errors import DuplicateKeyError, FairallocError, ParameterError

log = logging.getLogger(__name__)


def _plain_keys(keys: list[Any]) -> list[Any]:
    """Error keys as JSON values (non-finite floats and other objects as text)."""
    out: list[Any] = []
    for k in keys:  # at most MAX_KEYS_SHOWN keys
        if isinstance(k, tuple):
            out.append(_plain_keys(list(k)))
        elif isinstance(k, bool | int | str) or (isinstance(k, float) and math.isfinite(k)):
            out.append(k)
        else:
            out.append(str(k))
    return out


def _error(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


def error_response(exc: FairallocError) -> JSONResponse:
    """The response for a library error: its message, type, keys and count.

    Parameters
    ----------
    exc : fairalloc.transforms.errors.FairallocError
        The error; its ``http_status`` attribute, if any, is the status (422 otherwise).

    Returns
    -------
    fastapi.responses.JSONResponse
        ``{"error": type, "detail": message, "keys": [...], "count": n}``.

    Examples
    --------
    >>> r = error_response(ParameterError("unknown strategy", ["greedy"]))
    >>> r.status_code, r.body
    (422, b'{"error":"ParameterError","detail":"unknown strategy: \\'greedy\\' (1 in all)",\
"keys":["greedy"],"count":1}')
    """
    status = getattr(exc, "http_status", 422)
    return _error(status, type(exc).__name__, str(exc), keys=_plain_keys(exc.keys),
                  count=exc.count)


def _validation_response(errors: list[dict[str, Any]], count: int) -> JSONResponse:
    """422 naming the fields that failed validation (the first :data:`ERRORS_SHOWN` of
    ``count``), never echoing the input."""
    shown = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""),
              "type": e.get("type", "")} for e in errors[:ERRORS_SHOWN]]
    where = "; ".join(f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in shown)
    more = " …" if count > len(shown) else ""
    return _error(422, "ValidationError", f"{count} invalid field(s): {where}{more}",
                  errors=shown, count=count)


class BodyTooLargeError(FairallocError):
    """A request body above the server's limit (HTTP 413)."""

    http_status = 413


class BodyLimit:
    """ASGI middleware refusing request bodies above ``max_bytes`` with a JSON 413.

    A ``Content-Length`` above the limit is refused before anything is read; otherwise (no
    ``Content-Length``: chunked) the bytes are counted as they arrive and reading stops at the
    limit, and whatever the application answers then (FastAPI says 400 when a body it parses
    fails to arrive) is replaced by the 413.

    Parameters
    ----------
    app : ASGI application
        The application behind the limit.
    max_bytes : int
        The largest body accepted.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> JSONResponse:
        return error_response(BodyTooLargeError(
            f"request body above the limit of {self.max_bytes:,} bytes"))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit():
            await _error(400, "BadRequest", "Content-Length is not a number")(
                scope, receive, send)
            return
        if int(length) > self.max_bytes:
            await self._refusal()(scope, receive, send)
            return
        seen, exceeded = 0, False

        async def counted() -> dict:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise BodyTooLargeError(f"request body above {self.max_bytes:,} bytes")
            return message

        async def checked(message: dict) -> None:
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":  # the app's answer: replaced
                await self._refusal()(scope, receive, send)

        await self.app(scope, counted, checked)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of an endpoint that validates its body in a worker thread."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _install_openapi(app: FastAPI) -> None:
    """The OpenAPI document, with the request models of the ``/v1`` endpoints as components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            _, defs = models_json_schema([(m, "validation") for m in REQUESTS.values()],
                                         ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class PortionOut(BaseModel):
    """One product's share of the seed-compatible portions exchange."""

    id: int
    name: str
    portion: int


class ProductOut(BaseModel):
    """A product of the catalogue."""

    id: int
    name: str


def seed_portions(catalogue: Catalogue, distribution: dict[str, int]) -> list[dict[str, Any]]:
    """The seed exchange: portions per product id by the priority rule, with product names.

    Parameters
    ----------
    catalogue : Catalogue
        Where the names are.
    distribution : dict of str to int
        ``"portions"`` (the total) and product ids (digits) → integer ratios.

    Returns
    -------
    list of dict
        ``{"id", "name", "portion"}`` per product, by id.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        ``"portions"`` missing, or a key that is not a product id.
    fairalloc.transforms.errors.DuplicateKeyError
        One id written twice (``"1"`` and ``"01"``).
    fairalloc.service.catalogue.ProductNotFoundError
        Ids with no product (HTTP 404).
    fairalloc.transforms.errors.FairallocError
        The apportionment's own errors (a negative ratio, a negative total …), naming the keys.

    Examples
    --------
    >>> cat = Catalogue("sqlite://")
    >>> _ = cat.create("Soup", 1), cat.create("Salad", 2)
    >>> seed_portions(cat, {"portions": 8, "1": 3, "2": 1})
    [{'id': 1, 'name': 'Soup', 'portion': 6}, {'id': 2, 'name': 'Salad', 'portion': 2}]
    """
    from fairalloc.transforms.portions import apportion

    ratios = dict(distribution)
    if "portions" not in ratios:
        raise ParameterError('distribution needs "portions", the number of portions to hand out',
                             ["portions"])
    total = ratios.pop("portions")
    not_ids = [k for k in ratios if not re.fullmatch(r"[0-9]+", k)]
    if not_ids:
        raise ParameterError('distribution keys must be "portions" or product ids', not_ids)
    ids: dict[int, int] = {}
    for key, ratio in ratios.items():
        if int(key) in ids:
            raise DuplicateKeyError("a product id is given twice", [key])
        ids[int(key)] = ratio
    # the seed service's rule, whatever the library's default method
    result = apportion(ids, total, method="priority")
    names = catalogue.names(list(ids))
    return [{"id": int(k), "name": names[int(k)], "portion": int(v)} for k, v in result.items()]


def create_app(database_url: str | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               process_body_bytes: int = PROCESS_BODY_BYTES) -> FastAPI:
    """The fairalloc HTTP service as an ASGI application (for uvicorn or any ASGI server).

    Parameters
    ----------
    database_url : str, optional
        The product catalogue's SQLAlchemy URL; default ``$FAIRALLOC_DATABASE_URL``, else the
        SQLite file ``fairalloc.db`` in the current directory.
    max_body_bytes : int, default 50_000_000
        Larger request bodies are refused with 413.
    process_body_bytes : int, default 1_000_000
        Larger ``/v1`` bodies are validated and computed in a worker process, smaller ones
        in a worker thread (see :mod:`fairalloc.service.workers`).

    Returns
    -------
    fastapi.FastAPI
        The application.

    Examples
    --------
    >>> app = create_app("sqlite://")  # an in-memory catalogue
    >>> app.state.catalogue.create("Soup")
    {'id': 1, 'name': 'Soup'}
    >>> sorted({r.path for r in app.routes if r.path.startswith("/p")})
    ['/portions/', '/products/', '/products/{product_id}']
    """
    from fairalloc import __version__

    catalogue = Catalogue(database_url)
    workers = ProcessWorkers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            workers.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="fairalloc", version=__version__,
        description="Divide scarce, capacity-limited resources among competing claimants: "
                    "every fairalloc capability as a JSON endpoint, plus the portion "
                    "distribution exchange with its product catalogue.",
    )
    app.state.catalogue = catalogue
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(FairallocError)
    async def _library_error(request: Request, exc: FairallocError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "HTTPError", str(exc.detail))

    @app.exception_handler(ValidationError)
    async def _invalid_body(request: Request, exc: ValidationError) -> JSONResponse:
        return _validation_response(exc.errors(include_input=False, include_context=False),
                                    exc.error_count())

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return _validation_response(errors, getattr(exc, "count", len(errors)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected failure on %s %s", request.method, request.url.path)
        return _error(500, "InternalError", "the server failed; the details are in its log")

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Liveness: answers at once, even while large jobs run."""
        return {"status": "ok"}

    for name, model in REQUESTS.items():
        _add_capability(app, name, model, workers, process_body_bytes)

    @app.post("/portions/", response_model=list[PortionOut], tags=["portions (seed)"])
    def portions(body: Distribution) -> JSONResponse:
        """Portions per product by the priority rule, with the products' names, by id."""
        return JSONResponse(seed_portions(catalogue, body.distribution))

    @app.get("/products/", response_model=list[ProductOut], tags=["products"])
    def list_products() -> list[dict[str, Any]]:
        """Every product, by id."""
        return catalogue.products()

    @app.post("/products/", response_model=ProductOut, status_code=201, tags=["products"])
    def create_product(body: ProductIn) -> dict[str, Any]:
        """Add a product (id chosen by the catalogue when absent)."""
        return catalogue.create(body.name, body.id)

    @app.get("/products/{product_id}", response_model=ProductOut, tags=["products"])
    def get_product(product_id: int) -> dict[str, Any]:
        """One product."""
        return catalogue.get(product_id)

    @app.put("/products/{product_id}", response_model=ProductOut, tags=["products"])
    def rename_product(product_id: int, body: ProductName) -> dict[str, Any]:
        """Rename a product."""
        return catalogue.rename(product_id, body.name)

    @app.delete("/products/{product_id}", status_code=204, tags=["products"])
    def delete_product(product_id: int) -> Response:
        """Remove a product."""
        catalogue.delete(product_id)
        return Response(status_code=204)

    _install_openapi(app)
    return app


_ERROR_BODY = {"application/json": {"example": {
    "error": "InvalidAmountError", "detail": "ratios has negative ratio: 'b' (1 in all)",
    "keys": ["b"], "count": 1}}}
#: What the ``/v1`` endpoints answer, for the OpenAPI page.
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The result tables as lists of records (``allocation`` first; index "
                         "levels as the leading fields) and the transform's ``report``.",
          "content": {"application/json": {"example": {
              "allocation": [{"key": "a", "portions": 6}, {"key": "b", "portions": 2}],
              "report": {"unallocated": 0, "method": "priority", "status": "optimal"}}}}},
    413: {"description": "The body is above the server's limit."},
    422: {"description": "The body does not validate (``errors`` names the fields), or the "
                         "library refused the input (``keys`` names the keys).",
          "content": _ERROR_BODY},
}


def _add_capability(app: FastAPI, name: str, model: type[BaseModel], workers: ProcessWorkers,
                    process_body_bytes: int) -> None:
    """``POST /v1/<name>``: body read here, validated and computed in a worker thread, or in
    a worker process when it is large."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > process_body_bytes:
            outcome = await workers.run(name, raw)
        else:
            outcome = await run_in_threadpool(work, name, raw)
        return Response(reraise(outcome), media_type="application/json")

    endpoint.__name__ = f"v1_{name}"
    doc = (model.__doc__ or "").strip()
    app.add_api_route(f"/v1/{name}", endpoint, methods=["POST"], tags=["capabilities"],
                      summary=f"{name.capitalize()}", description=doc,
                      openapi_extra=_body_schema(model), responses=_RESPONSES)


def serve(host: str = HOST, port: int = PORT, database_url: str | None = None,
          max_body_bytes: int = MAX_BODY_BYTES, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted (Ctrl-C, SIGTERM).

    Parameters
    ----------
    host : str, default "127.0.0.1"
        The address to listen on.
    port : int, default 8000
        The port to listen on.
    database_url : str, optional
        The product catalogue's SQLAlchemy URL (see :func:`create_app`).
    max_body_bytes : int, default 50_000_000
        Larger request bodies are refused with 413.
    log_level : str, default "info"
        uvicorn's log level.
    """
    import uvicorn

    app = create_app(database_url, max_body_bytes)
    log.info("product catalogue: %s", app.state.catalogue.engine.url.render_as_string())
    uvicorn.run(app, host=host, port=port, log_level=log_level)
