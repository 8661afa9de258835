"""OpenBLAS is loaded when the first Muon session is created, not at start-up: a server that
cannot load it still serves every other optimizer and refuses Muon with a 422 that names the
library, instead of failing Muon's steps. STEPD_OPENBLAS points the server at a library that
does not exist to make that happen on a machine that has OpenBLAS."""

import contextlib
import json
import urllib.error
import urllib.request

from stepd_server import StepdServer


def post(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers.get("Content-Type"), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), json.loads(e.read())


def session(sid, optimizer, **param):
    return {"id": sid, "optimizer": optimizer, "params": [{"name": "w", "shape": [4, 4], "values": [0.5] * 16, **param}]}


@contextlib.contextmanager
def serving(openblas):
    server = StepdServer(env={"STEPD_OPENBLAS": openblas}).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_a_server_without_openblas_refuses_muon_by_name_and_serves_the_rest():
    missing = "/nonexistent/libopenblas-stepd-test.so"
    with serving(missing) as url:
        status, ctype, body = post(url, "/v1/sessions", session("m", {"type": "muon"}))
        assert status == 422, body
        assert ctype.startswith("application/problem+json")
        assert "this server cannot run Muon" in body["detail"] and missing in body["detail"], body
        status, _, body = post(url, "/v1/sessions",
                               {**session("h", {"type": "adamw"}, group="hidden"), "groups": [{"name": "hidden", "type": "muon"}]})
        assert status == 422 and missing in body["detail"], body

        assert post(url, "/v1/sessions", session("a", {"type": "adamw"}))[0] == 201
        status, _, body = post(url, "/v1/sessions/a/steps", {"grads": {"w": [0.1] * 16}})
        assert status == 200, body


def test_stepd_openblas_may_name_the_library_to_load():
    with serving("libopenblas.so.0") as url:
        assert post(url, "/v1/sessions", session("m", {"type": "muon"}))[0] == 201
        status, _, body = post(url, "/v1/sessions/m/steps", {"grads": {"w": [0.1] * 16}})
        assert status == 200, body
