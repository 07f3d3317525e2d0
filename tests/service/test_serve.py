"""`heritage serve` starts uvicorn with the app, on the real Neo4j."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request


def test_heritage_serve_answers_health_and_ready(graph_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, NEO4J_URI=graph_settings.uri, NEO4J_PASSWORD=graph_settings.password)
    server = subprocess.Popen([sys.executable, "-m", "heritage.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                assert time.monotonic() < deadline, "heritage serve did not become ready in 60 s"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            assert answer.read() == b'{"status":"ok"}'
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_heritage_serve_refuses_to_start_without_a_password(monkeypatch, capsys):
    from heritage.cli import EXIT_FAILED, main

    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    assert main(["serve", "--port", "1"]) == EXIT_FAILED
    assert "NEO4J_PASSWORD" in capsys.readouterr().err
