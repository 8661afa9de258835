"""Starts a real stepd binary on a free loopback port for tests, and stops it.

Shared by tests/python/conftest.py and clients/python/tests/conftest.py (which puts this folder
on sys.path). The binary is $STEPD_BIN, else .build/debug/stepd at the repository root.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (https?://[0-9A-Za-z.\-\[\]:]+?:(\d+))")


def stepd_binary() -> Path:
    """$STEPD_BIN, else <repo>/.build/debug/stepd."""
    env = os.environ.get("STEPD_BIN")
    return Path(env) if env else REPO_ROOT / ".build" / "debug" / "stepd"


class StepdServer:
    """``stepd serve --port 0 --data-dir ''``, its URL parsed from the log line on stderr.

    With ``--tls-cert``/``--tls-key`` in ``args`` the URL is https://; ``ca_file`` is then the
    CA that signed the certificate, trusted by the readiness check.
    """

    def __init__(self, binary: Optional[Path] = None, args: Sequence[str] = (),
                 env: Optional[Mapping[str, str]] = None, start_timeout: float = 30.0,
                 ca_file: Optional[str] = None):
        self.binary = Path(binary) if binary else stepd_binary()
        self.args = list(args)
        self.ca_file = ca_file
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.proc: Optional[subprocess.Popen] = None
        self.url: Optional[str] = None
        self.port: Optional[int] = None
        self.log: List[str] = []
        self._found = threading.Event()
        self._reader: Optional[threading.Thread] = None

    def start(self) -> "StepdServer":
        if not self.binary.exists():
            raise FileNotFoundError(
                f"stepd binary not found at {self.binary}: build it with `swift build --product stepd` "
                f"or set STEPD_BIN")
        env = dict(os.environ)
        env.pop("STEPD_TOKEN", None)
        env.update(self.env)
        cmd = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", "", *self.args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read_stderr, name="stepd-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._found.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(f"stepd exited with {self.proc.returncode} before listening:\n{self.logs()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"stepd did not log its port within {self.start_timeout}s:\n{self.logs()}")
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2, context=context) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"stepd at {self.url} did not answer /healthz:\n{self.logs()}")
            time.sleep(0.05)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:  # drained to the end so the server never blocks on a full pipe
            self.log.append(line.rstrip("\n"))
            if not self._found.is_set():
                m = _LISTENING.search(line)
                if m:
                    self.url, self.port = m.group(1), int(m.group(2))
                    self._found.set()

    def logs(self) -> str:
        return "\n".join(self.log[-50:])

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.proc = None

    def __enter__(self) -> "StepdServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
