"""Errors raised by the stepd client."""

from __future__ import annotations

import json
from typing import Any, Optional


class StepdError(Exception):
    """A request that stepd (or the network in between) refused.

    Carries the fields of the server's ``application/problem+json`` document (RFC 9457):
    ``status`` (the HTTP status), ``title``, ``detail`` (what exactly was wrong), ``field``
    (the offending field, when the server names one) and ``type``. ``problem`` is the whole
    document as a dict. For a failure with no HTTP answer at all (connection refused after
    every retry), ``status`` is ``None`` and ``__cause__`` is the network error.
    """

    def __init__(self, status: Optional[int], title: str, detail: str = "",
                 field: Optional[str] = None, type: str = "about:blank",
                 problem: Optional[dict] = None, method: str = "", url: str = ""):
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.type = type
        self.problem = problem or {}
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        head = f"{status} {title}" if status is not None else title
        super().__init__(f"{head}: {detail}{where}" if detail else f"{head}{where}")

    @classmethod
    def from_response(cls, response: Any) -> "StepdError":
        """Builds the error from a ``requests.Response`` with a 4xx/5xx status."""
        method = getattr(response.request, "method", "") or ""
        url = getattr(response.request, "url", "") or response.url or ""
        problem: dict = {}
        ctype = response.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                parsed = json.loads(response.content.decode("utf-8"))
                if isinstance(parsed, dict):
                    problem = parsed
            except (ValueError, UnicodeDecodeError):
                problem = {}
        status = problem.get("status", response.status_code)
        if not isinstance(status, int):
            status = response.status_code
        title = problem.get("title") or response.reason or "HTTP error"
        detail = problem.get("detail")
        if detail is None:
            detail = response.text[:500].strip() if not problem else ""
        return cls(status=status, title=str(title), detail=str(detail), field=problem.get("field"),
                   type=str(problem.get("type", "about:blank")), problem=problem, method=method, url=url)
