"""``sapphire serve`` as a real process: binds to loopback by default, serves, protects admin endpoints."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sapphire_core.testing import signals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the outgoing interface
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


@pytest.mark.timeout(120)
def test_serve_command_binds_loopback_and_answers(write_corpus, tmp_path):
    corpus = write_corpus({f"t{i}": (signals.chord([60 + i, 64 + i, 67 + i], sr=22050, seconds=0.5), 22050,
                                     {"title": f"chord {i}"}) for i in range(4)})
    sessions = tmp_path / "sessions.yaml"
    sessions.write_text("- {name: trip, kind: triplet, trials_per_rater: 5}\n")
    port = _free_port()
    sapphire = Path(sys.executable).with_name("sapphire")
    env = dict(os.environ, SAPPHIRE_ADMIN_TOKEN="serve-test-token")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    proc = subprocess.Popen([str(sapphire), "serve", "--corpus", str(corpus), "--port", str(port), "--sessions",
                             str(sessions)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                info = httpx.get(base + "/api/info", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert info["sessions"][0]["name"] == "trip" and info["subspaces"] == ["tonal", "timbre"]
        assert httpx.get(base + "/api/admin/counts").status_code == 401
        counts = httpx.get(base + "/api/admin/counts", headers={"X-Admin-Token": "serve-test-token"}).json()
        assert counts["journal_mode"] == "wal" and counts["integrity"] == "ok"
        # uvicorn's head buffer is set so that a 1 MB header is answered (431), not reset
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /api/info HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 1_000_000 + b"\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 431")
        ip = _non_loopback_ip()
        if ip is not None:  # not reachable from another interface
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{ip}:{port}/api/info", timeout=2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out
    db = Path(corpus).resolve() / ".sapphire" / "feedback.db"  # the default: not the current folder
    assert db.is_file() and f"judgements -> {db}" in out.replace("\n", "")
    assert list(cwd.iterdir()) == []
    assert "serve-test-token" not in out  # a token given by the operator is not echoed
