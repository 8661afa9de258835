"""Fixtures for the client's tests: a real stepd binary on a free loopback port.

The server helper is shared with the repository's integration tests (tests/python/stepd_server.py);
the binary is $STEPD_BIN, else .build/debug/stepd at the repository root.
"""

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[2]
sys.path.insert(0, str(_REPO / "tests" / "python"))
from stepd_server import StepdServer  # noqa: E402

try:
    import stepd  # noqa: F401  (installed with pip install ./clients/python)
except ImportError:  # running from a checkout without installing the client
    sys.path.insert(0, str(_HERE.parent))


@pytest.fixture(scope="session")
def server():
    with StepdServer() as s:
        yield s


@pytest.fixture(scope="session")
def url(server):
    return server.url


@pytest.fixture()
def client(url):
    import stepd
    return stepd.Client(url, retries=3, backoff=0.01)
