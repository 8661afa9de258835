"""Fixtures for the Python integration tests: a real stepd on a free loopback port."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stepd_server import REPO_ROOT, StepdServer  # noqa: E402


@pytest.fixture(scope="session")
def stepd_server():
    """One stepd for the whole run (`stepd serve --port 0 --data-dir ''`), stopped at the end."""
    with StepdServer() as server:
        yield server


@pytest.fixture(scope="session")
def stepd_url(stepd_server):
    return stepd_server.url


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT
