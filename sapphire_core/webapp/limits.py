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
YAML aliases / nesting      100 / 64       400, counted on the event stream
YAML values, aliases        100,000        400 (a "billion laughs" of few aliases that expand to
expanded                                   millions of values); all three are checked on the event
                                           stream before any object is built
input echoed in an error    200 bytes      longer values are left out of 4xx answers
a request head on the wire  1088 KiB       uvicorn's ``h11_max_incomplete_event_size`` in
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


#: libyaml's C parser when PyYAML was built with it (20x faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_yaml_events(text: str, *, max_aliases: int = MAX_YAML_ALIASES, max_depth: int = MAX_YAML_DEPTH,
                      max_nodes: int = MAX_YAML_NODES) -> None:
    """Walk the YAML event stream (no objects built) and refuse a document over the limits.

    The expanded size is counted as the events arrive: a scalar counts 1, a collection 1 plus its
    contents, an alias the size of its anchor. So 100,000 aliases are refused at the 101st, and a
    "billion laughs" (nine aliases of nine aliases...) as soon as its expansion passes ``max_nodes``,
    before any Python object is built.

    Raises
    ------
    LimitError
        (status 400) naming the line and the limit.
    yaml.YAMLError
        When the text is not YAML.
    """
    aliases = total = 0
    sizes: dict[str, int] = {}  # anchor -> expanded size
    stack: list[list[Any]] = []  # open collections: [size so far, anchor]
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > max_aliases:
                raise LimitError(f"line {line}: the YAML has more than {max_aliases} aliases (*name); "
                                 "write the values out instead", 400)
            if any(event.anchor == anchor for _, anchor in stack):
                raise LimitError(f"line {line}: the alias *{str(event.anchor)[:40]} refers to a value that "
                                 "contains it; a session file cannot be recursive", 400)
            size = sizes.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([1, event.anchor])
            total += 1
            if len(stack) > max_depth:
                raise LimitError(f"line {line}: the YAML nests deeper than {max_depth} levels", 400)
            continue
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            size, anchor = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
            if stack:
                stack[-1][0] += size
            continue
        else:  # stream and document start / end
            continue
        if getattr(event, "anchor", None) is not None:
            sizes[event.anchor] = size
        total += size
        if stack:
            stack[-1][0] += size
        if total > max_nodes:
            raise LimitError(f"line {line}: the YAML expands to more than {max_nodes} values; "
                             "write less (aliases of aliases count once per use)", 400)


def load_untrusted_yaml(text: str, *, max_aliases: int = MAX_YAML_ALIASES, max_depth: int = MAX_YAML_DEPTH,
                        max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse YAML from a request with PyYAML's safe loader, bounded in aliases, depth and expanded size.

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
        (status 400) when the document has too many aliases, nests too deep, expands too far or
        is recursive (see :func:`check_yaml_events`).
    yaml.YAMLError
        When it is not YAML.
    """
    # Two passes: the event walk is cheap and builds nothing, so the load only runs on a document
    # already known to be small once expanded.
    check_yaml_events(text, max_aliases=max_aliases, max_depth=max_depth, max_nodes=max_nodes)
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
