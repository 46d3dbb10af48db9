"""How the API reads a request body: size bounded on the bytes read, JSON bounded before parsing.

* :class:`DechunkedBody` (WSGI middleware): a ``Transfer-Encoding: chunked`` body has no
  ``Content-Length``, so Werkzeug would read it up to ``MAX_CONTENT_LENGTH`` and silently
  cut it there, and a check of ``request.content_length`` (the 1 MB report limit) would see
  ``None``. The middleware reads such a body itself, at most one byte past the limit, and
  hands it on as an ordinary body with its true ``Content-Length``; a body over the limit
  gets that length too, so Flask answers ``413`` as it does for a declared one.
* :class:`BoundedJSONProvider`: every ``request.get_json`` goes through
  :func:`web.json_input.loads`, so nesting deeper than 64 levels or a lone surrogate
  is a ``400 invalid_json`` on every endpoint, never a ``RecursionError`` or an encoding 500.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from typing import Any

from flask.json.provider import DefaultJSONProvider

from event_store.errors import DomainError
from web.json_input import JsonRefused
from web.json_input import loads

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["BoundedJSONProvider", "DechunkedBody"]

_READ = 64 * 1024


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deep or holding a lone surrogate is a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; raise a ``400 invalid_json`` DomainError for what we refuse."""
        try:
            return loads(s, **kwargs)
        except JsonRefused as exc:
            raise DomainError(str(exc), code="invalid_json", status=400) from None


class DechunkedBody:
    """Turn a chunked request body into one with a ``Content-Length``, reading at most the limit + 1."""

    def __init__(self, app: WSGIApplication, limit: Callable[[], int | None]) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request, its body de-chunked first."""
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = _read(environ["wsgi.input"], self.limit())
            del environ["HTTP_TRANSFER_ENCODING"]  # the body handed on is no longer chunked
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def _read(stream: Any, limit: int | None) -> bytes:
    # The server de-chunks (Werkzeug's and gunicorn's both do); read() may return less than
    # asked, so read until the end or one byte past the limit.
    chunks: list[bytes] = []
    size = 0
    while limit is None or size <= limit:
        chunk = stream.read(_READ if limit is None else min(_READ, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
