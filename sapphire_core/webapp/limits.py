"""What one request may cost the server: body, URL and header sizes, echoed input, untrusted YAML.

Every limit is a constant here (or a :func:`~sapphire_core.webapp.create_app` argument) and
is enforced in one place, before any route reads the request:

==========================  =============  ==========================================================
limit                       default        answer
==========================  =============  ==========================================================
URL (path + query string)   8 KiB          414, before the route runs
request headers, in total   16 KiB         431, before the route runs
JSON request body           1 MiB          413: ``Content-Length`` is checked first, and a chunked
                                           body is counted as it streams, so no route ever reads more
sessions YAML body          1 MiB          413 (``POST /api/admin/sessions/yaml``)
uploaded audio body         10 MiB         413 (``POST /api/search/audio``; ``--max-upload-mb``)
YAML aliases / nesting      100 / 64       400, counted while the document is composed
YAML nodes, aliases         100,000        400 (a "billion laughs" of few aliases that expand to
expanded                                   millions of values)
input echoed in an error    200 bytes      longer values are left out of 4xx answers
a request head on the wire  1 MiB + 64 KiB uvicorn's ``h11_max_incomplete_event_size`` in
                                           :func:`~sapphire_core.webapp.server.make_server`; a larger
                                           head gets uvicorn's own 400 and the connection is closed
==========================  =============  ==========================================================

Why the head limit is so much larger than the URL and header limits: uvicorn must read a head
before the app can answer it, and a client deserves a 414/431 saying what was too large rather
than a reset connection.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import yaml

from sapphire_core.errors import SapphireError

MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_JSON_BYTES = 1024 * 1024
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_ALIASES = 100
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000
MAX_ECHO_BYTES = 200
#: How much of a request head uvicorn buffers, so that oversized URLs and headers reach the app.
MAX_HEAD_READ_BYTES = 1024 * 1024 + 64 * 1024
#: Validation errors listed in one 422 answer; the rest are counted.
MAX_LISTED_ERRORS = 20

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class LimitError(SapphireError):
    """A request (or a document in it) exceeds a limit of this module; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _BodyTooLarge(Exception):
    """Raised into a route that reads past the body cap; the middleware answers 413 instead."""


def clip(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis: the way errors quote request values."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


# ---------------------------------------------------------------------------------------------- ASGI


class RequestLimits:
    """ASGI middleware: 414 / 431 / 413 for oversized URLs, headers and bodies, before a route runs.

    Parameters
    ----------
    app : ASGI app
    body_limits : dict of str to int
        Body caps in bytes by exact path (uploads, the sessions YAML); others get ``default_body_bytes``.
    default_body_bytes, max_url_bytes, max_header_bytes : int
        See the module docstring.
    headers : iterable of (str, str)
        Added to the refusals (the app's security headers).
    """

    def __init__(self, app: ASGIApp, *, body_limits: dict[str, int] | None = None,
                 default_body_bytes: int = MAX_JSON_BYTES, max_url_bytes: int = MAX_URL_BYTES,
                 max_header_bytes: int = MAX_HEADER_BYTES, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.app = app
        self.body_limits = dict(body_limits or {})
        self.default_body_bytes = default_body_bytes
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

    async def _refuse(self, send, status: int, message: str) -> None:
        body = json.dumps({"detail": message}).encode()
        # "connection: close": the unread rest of a refused body must not be parsed as the next request.
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), *self.headers]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        url = len(path) + len(scope.get("query_string", b""))
        if url > self.max_url_bytes:
            await self._refuse(send, 414, f"the URL is {url} bytes; the limit is {self.max_url_bytes} "
                                          "(send long values in a JSON body)")
            return
        head = sum(len(k) + len(v) + 4 for k, v in scope["headers"])  # "name: value\r\n"
        if head > self.max_header_bytes:
            await self._refuse(send, 431, f"the request headers are {head} bytes; the limit is "
                                          f"{self.max_header_bytes}")
            return
        limit = self.body_limits.get(scope["path"], self.default_body_bytes)
        too_large = (f"the request body is larger than the {limit} byte limit of {scope['path'][:100]}; "
                     "send less")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await self._refuse(send, 400, "Content-Length must be a number of bytes")
                return
            if int(length) > limit:
                await self._refuse(send, 413, too_large)
                return
        received = 0
        exceeded = started = False

        async def capped_receive() -> Message:
            # Counts what actually arrives, so a chunked body (no Content-Length) is capped too.
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge(too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the route made of the cut body, the answer is the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not (exceeded and not started):
                raise
        if exceeded and not started:
            await self._refuse(send, 413, too_large)


# ---------------------------------------------------------------------------------- error bodies


def safe_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors fit to send back: at most :data:`MAX_ECHO_BYTES` of request input in all.

    FastAPI's default 422 answer repeats each invalid ``input`` whole (a 20 MB body came back as a
    126 MB answer). Here an input is kept only while the echo budget lasts; the others are replaced
    by ``"input_omitted"`` with their size, and at most :data:`MAX_LISTED_ERRORS` errors are listed.
    """
    budget = MAX_ECHO_BYTES
    out: list[dict[str, Any]] = []
    for err in errors[:MAX_LISTED_ERRORS]:
        item: dict[str, Any] = {
            "type": str(err.get("type", "")),
            # dict keys of the body appear in ``loc``: clip them like any other echoed value
            "loc": [p if isinstance(p, int) else str(p)[:64] for p in err.get("loc", ())],
            "msg": str(err.get("msg", ""))[:300],
        }
        if "input" in err:
            encoded = json.dumps(err["input"], default=str, ensure_ascii=False).encode()
            if len(encoded) <= budget:
                item["input"] = json.loads(encoded)
                budget -= len(encoded)
            else:
                item["input_omitted"] = f"{len(encoded)} bytes"
        ctx = err.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {str(k)[:64]: (v if isinstance(v, (int, float, bool)) or v is None else str(v)[:120])
                           for k, v in list(ctx.items())[:8]}
        out.append(item)
    if len(errors) > MAX_LISTED_ERRORS:
        out.append({"type": "more_errors", "loc": [], "msg": f"{len(errors) - MAX_LISTED_ERRORS} more errors "
                                                             "not listed"})
    return out


# ------------------------------------------------------------------------------------ query params


def declared_query_params(dependant: Any) -> set[str]:
    """The query parameter names a FastAPI route (its ``dependant`` tree) declares."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        dep = stack.pop()
        for field in dep.query_params:
            annotation = getattr(getattr(field, "field_info", None), "annotation", None)
            model_fields = getattr(annotation, "model_fields", None)  # a pydantic model of query parameters
            if isinstance(model_fields, dict):
                names.update(f.alias or n for n, f in model_fields.items())
            else:
                names.add(field.alias)
        stack.extend(dep.dependencies)
    return names


# -------------------------------------------------------------------------------------------- YAML


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops at ``max_aliases`` aliases, ``max_depth`` levels of nesting or
    ``max_nodes`` values with aliases expanded.

    Everything is counted as the document is composed, before any Python object is built: 100,000
    aliases are refused at the 101st, and a "billion laughs" (nine aliases of nine aliases...) when
    its expanded size passes ``max_nodes``. The depth limit keeps the recursive composer far from
    Python's recursion limit.
    """

    max_aliases = MAX_YAML_ALIASES
    max_depth = MAX_YAML_DEPTH
    max_nodes = MAX_YAML_NODES

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its size with aliases expanded

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.max_aliases:
                raise LimitError(f"line {event.start_mark.line + 1}: the YAML has more than {self.max_aliases} "
                                 "aliases (*name); write the values out instead", 400)
        self._depth += 1
        if self._depth > self.max_depth:
            raise LimitError(f"line {event.start_mark.line + 1}: the YAML nests deeper than {self.max_depth} "
                             "levels", 400)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._sizes:  # an alias returns its anchor's node, already measured
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._sizes.get(id(c), 1) for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
            else:
                size = 1
            if size > self.max_nodes:
                raise LimitError(f"line {node.start_mark.line + 1}: the YAML expands to more than {self.max_nodes} "
                                 "values (aliases of aliases); write the values out instead", 400)
            self._sizes[id(node)] = size
        return node


def load_untrusted_yaml(text: str, *, max_aliases: int = MAX_YAML_ALIASES, max_depth: int = MAX_YAML_DEPTH,
                        max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse YAML from a request with PyYAML's safe loader, bounded in aliases and nesting depth.

    Parameters
    ----------
    text : str
        The document (its size is capped by :class:`RequestLimits` before it gets here).
    max_aliases, max_depth, max_nodes : int
        See the module docstring.

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    LimitError
        (status 400) when the document has too many aliases, nests too deep or expands too far.
    yaml.YAMLError
        When it is not YAML.
    """
    loader = _BoundedLoader(text)
    loader.max_aliases, loader.max_depth, loader.max_nodes = max_aliases, max_depth, max_nodes
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
