"""Several stepd servers that share nothing, seen as one: list, find and move sessions.

Routing is nginx's job (docker/nginx.conf hashes the session id in the path); this is for the
operator and for tests: where does a session live, and move it to where it should live (after
adding a node, or to drain one).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .client import JSON, Client, Session, _quote
from .errors import StepdError


class Cluster:
    """The servers at ``urls`` (each a node's own URL, not the proxy's)."""

    def __init__(self, urls: Sequence[str], token: Optional[str] = None, **client_options: Any):
        if not urls:
            raise ValueError("a cluster needs at least one server URL")
        self.clients = [Client(u, token, **client_options) for u in urls]

    @property
    def urls(self) -> List[str]:
        return [c.url for c in self.clients]

    def client(self, url: str) -> Client:
        url = url.rstrip("/")
        for c in self.clients:
            if c.url == url:
                return c
        raise ValueError(f"{url} is not one of this cluster's servers {self.urls}")

    def sessions(self) -> List[dict]:
        """Every session on every server, each with ``node``: the URL of the server holding it."""
        out: List[dict] = []
        for c in self.clients:
            out.extend({**s, "node": c.url} for s in c.sessions())
        return sorted(out, key=lambda s: (s["id"], s["node"]))

    def find(self, session_id: str) -> Optional[str]:
        """The URL of the server holding ``session_id``, or None. A server the session has moved
        away from answers 409 and is passed over."""
        for c in self.clients:
            r = c.request("GET", f"/v1/sessions/{_quote(session_id)}", headers={"Accept": JSON}, ok=(404, 409))
            if r.status_code == 200:
                return c.url
        return None

    def session(self, session_id: str) -> Session:
        """The session, on whichever server holds it (404 :class:`StepdError` if none does)."""
        url = self.find(session_id)
        if url is None:
            raise StepdError(404, "Not Found", f"no server of {self.urls} holds session {session_id!r}")
        return self.client(url).session(session_id)

    def move(self, session_id: str, to: str, *, source: Optional[str] = None) -> Session:
        """Moves a live session to the server ``to`` and returns it there.

        The source refuses changes from the start (409 with ``Location`` of the new home), so
        the checkpoint copied (``GET``/``POST .../checkpoint``) is the whole truth; once the
        copy is in place the source drops the session and keeps answering 409 with its new
        ``Location``. If the copy cannot be placed the source takes changes again and the error
        is raised. ``source`` defaults to wherever :meth:`find` finds the session.
        """
        src = self.client(source) if source is not None else None
        if src is None:
            found = self.find(session_id)
            if found is None:
                raise StepdError(404, "Not Found", f"no server of {self.urls} holds session {session_id!r}")
            src = self.client(found)
        dst = self.client(to) if to.rstrip("/") in self.urls else Client(to, src.token)
        if dst.url == src.url:
            return src.session(session_id)
        path = f"/v1/sessions/{_quote(session_id)}"
        src.request("POST", path + "/move", json_body={"to": dst.url}, headers={"Accept": JSON})
        try:
            data = src.request("GET", path + "/checkpoint", headers={"Accept": "application/vnd.safetensors"}).content
            moved = dst.import_checkpoint(data, id=session_id)
        except BaseException:
            try:
                src.request("DELETE", path + "/move", headers={"Accept": JSON})
            except StepdError:
                pass
            raise
        src.request("DELETE", path)
        return moved

    def __repr__(self) -> str:
        return f"<stepd.Cluster {self.urls}>"


def by_node(sessions: Sequence[dict]) -> Dict[str, List[str]]:
    """Session ids per node URL, from :meth:`Cluster.sessions`."""
    out: Dict[str, List[str]] = {}
    for s in sessions:
        out.setdefault(s["node"], []).append(s["id"])
    return out
