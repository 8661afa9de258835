"""stepd serving HTTPS itself (``--tls-cert``/``--tls-key``), with a CA and a certificate made
here by openssl, reached with urllib, curl and the Python client; and start-up refusing
incomplete or bad TLS files with a message that names them."""

import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
import requests

import stepd
from stepd_server import StepdServer, stepd_binary


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated
    self-signed pair whose key matches neither."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=stepd test CA", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    _openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.pem", "-days", "2",
             "-subj", "/CN=other", cwd=d)
    return d


@pytest.fixture(scope="module")
def https_server(pki):
    with StepdServer(args=["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")],
                     ca_file=str(pki / "ca.pem")) as server:
        yield server


def test_the_start_up_line_says_https_and_tls_on(https_server):
    assert https_server.url.startswith("https://127.0.0.1:")
    line = next(l for l in https_server.log if "listening on" in l)
    assert "tls: on" in line


def test_urllib_trusting_the_test_ca_gets_healthz(https_server, pki):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with urllib.request.urlopen(https_server.url + "/healthz", timeout=10, context=context) as r:
        assert r.status == 200
        assert json.loads(r.read())["status"] == "ok"


def test_the_certificate_served_is_the_one_given(https_server):
    """Without the test CA the certificate does not verify: it is the test's, not some default."""
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(https_server.url + "/healthz", timeout=10, context=ssl.create_default_context())
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)


def test_curl_with_the_test_ca_gets_healthz(https_server, pki):
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(pki / "ca.pem"), https_server.url + "/healthz"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"
    # The name in the certificate is checked too: localhost is in it, a wrong one is refused.
    url = https_server.url.replace("127.0.0.1", "localhost")
    assert subprocess.run(["curl", "-sS", "--fail", "--cacert", str(pki / "ca.pem"), url + "/healthz"],
                          capture_output=True, timeout=30).returncode == 0


def test_the_python_client_trains_over_https(https_server, pki):
    http = requests.Session()
    http.verify = str(pki / "ca.pem")
    # Otherwise REQUESTS_CA_BUNDLE, when set (as on CI images), overrides Session.verify.
    http.trust_env = False
    client = stepd.Client(https_server.url, http=http)
    s = client.create_session(optimizer={"type": "sgd", "lr": 0.5}, params={"w": np.array([1.0, 2.0, 3.0])})
    r = s.step({"w": np.array([1.0, 1.0, 1.0])})
    assert r.step == 1
    np.testing.assert_allclose(s.params()["w"], [0.5, 1.5, 2.5])


def test_plain_http_on_the_https_port_gets_no_http_answer(https_server):
    with socket.create_connection(("127.0.0.1", https_server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        try:
            while chunk := sock.recv(4096):
                reply += chunk
        except ConnectionResetError:
            pass
    assert not reply.startswith(b"HTTP/")


def _start_fails(*args):
    """Runs ``stepd serve`` with ``args``; it must exit at once, with an error. Returns stderr."""
    out = subprocess.run([str(stepd_binary()), "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", "", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0, out.stderr
    assert "listening" not in out.stderr
    return out.stderr


def test_one_tls_flag_without_the_other_is_a_usage_error(pki):
    assert "needs --tls-key" in _start_fails("--tls-cert", str(pki / "server.pem"))
    assert "needs --tls-cert" in _start_fails("--tls-key", str(pki / "server.key"))


@pytest.mark.parametrize("cert, key, named, says", [
    ("missing.pem", "server.key", ["missing.pem"], "No such file"),
    ("server.pem", "server.csr", ["server.csr"], "no PEM private key"),
    ("server.key", "server.key", ["server.key"], "no PEM certificate"),
    ("server.pem", "other.key", ["server.pem", "other.key"], "do not match"),
])
def test_a_bad_tls_file_fails_start_up_naming_it(pki, cert, key, named, says):
    err = _start_fails("--tls-cert", str(pki / cert), "--tls-key", str(pki / key))
    for name in named:
        assert str(pki / name) in err
    assert says in err
