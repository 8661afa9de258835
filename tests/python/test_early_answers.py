"""A body the server refuses before reading it (wrong length, unknown session, refused from the
head) still gets its problem document, not a connection reset, from a client that sends the
whole body before reading (Python's http.client without `Expect: 100-continue`): the server
reads and drops the rest of the body (up to its discard bound) before answering."""

import http.client
import json

import pytest


def _post(port, path, body, content_type="application/octet-stream"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tiny_session(stepd_server):
    status, _, body = _post(stepd_server.port, "/v1/sessions",
                            json.dumps({"id": "tiny", "optimizer": {"type": "sgd"},
                                        "params": [{"name": "w", "shape": [4], "values": [1, 2, 3, 4]}]}).encode(),
                            content_type="application/json")
    assert status == 201, body
    return "tiny"


@pytest.mark.parametrize("attempt", range(3))
def test_five_megabytes_to_a_sixteen_byte_session_get_the_422(stepd_server, tiny_session, attempt):
    status, ctype, body = _post(stepd_server.port, f"/v1/sessions/{tiny_session}/steps", bytes(5 << 20))
    assert status == 422
    assert ctype == "application/problem+json"
    assert "16" in json.loads(body)["detail"]


def test_a_body_to_an_unknown_session_gets_the_404(stepd_server):
    status, ctype, body = _post(stepd_server.port, "/v1/sessions/nobody/steps", bytes(3 << 20))
    assert status == 404 and ctype == "application/problem+json", body


def test_the_session_is_unchanged_and_the_connection_usable_after_a_refusal(stepd_server, tiny_session):
    conn = http.client.HTTPConnection("127.0.0.1", stepd_server.port, timeout=30)
    try:
        conn.request("POST", f"/v1/sessions/{tiny_session}/steps", body=bytes(1 << 20),
                     headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        assert r.status == 422
        r.read()
        # Same connection: the refused body was read to its end, so the next request is framed.
        conn.request("GET", f"/v1/sessions/{tiny_session}")
        r = conn.getresponse()
        assert r.status == 200
        assert json.loads(r.read())["step"] == 0
    finally:
        conn.close()


def test_a_body_past_the_discard_bound_is_cut_off_and_the_server_carries_on(stepd_server, tiny_session):
    try:
        status, _, _ = _post(stepd_server.port, f"/v1/sessions/{tiny_session}/steps", bytes(80 << 20))
        assert status == 422  # if the client happened to read the answer before the close
    except (BrokenPipeError, ConnectionResetError):
        pass
    conn = http.client.HTTPConnection("127.0.0.1", stepd_server.port, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
