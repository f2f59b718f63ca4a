"""`renum dev` brings everything up on embedded servers and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _descendants_and_servers(root: int, data_dir: Path) -> set[int]:
    pids = {p.pid for p in psutil.Process(root).children(recursive=True)}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            pids.add(proc.info["pid"])
    return pids


def _launch_example_and_wait(output: str, port: int) -> None:
    """The quick start's own curl: launch the support router, then read it back completed."""
    token = re.search(r"export TOKEN=(\S+)", output)
    team = re.search(r"/v1/teams/([0-9a-f-]{36})/executions", output)
    assert token and team, output
    headers = {"Authorization": f"Bearer {token.group(1)}", "Content-Type": "application/json"}
    base = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(
        f"{base}/v1/teams/{team.group(1)}/executions",
        headers=headers,
        data=json.dumps({"initial_prompt": "My invoice is wrong"}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        execution_id = json.load(response)["execution_id"]
    events = urllib.request.Request(f"{base}/v1/executions/{execution_id}/events", headers=headers)
    with urllib.request.urlopen(events, timeout=30) as response:
        stream = response.read().decode()  # the stream closes after the terminal event
    assert "event: execution_completed" in stream
    detail = urllib.request.Request(f"{base}/v1/executions/{execution_id}", headers=headers)
    with urllib.request.urlopen(detail, timeout=10) as response:
        steps = {s["step_id"]: s["status"] for s in json.load(response)["steps"]}
    assert steps["billing_support"] == "completed"


@pytest.mark.slow
def test_dev_serves_health_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    data_dir = tmp_path / "renum-data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RENUM_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(RENUM_DATA_DIR=str(data_dir), RENUM_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "renum", "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output, output
        assert "curl" in output
        assert "generated the dev JWT secret" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
            assert json.load(response)["status"] == "ok"
        _launch_example_and_wait(output, port)
        running = _descendants_and_servers(proc.pid, data_dir)
        assert running, "the API and database processes should be visible"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = [
                p
                for p in running
                if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
            ]
            if not alive:
                break
            time.sleep(0.1)
        assert not alive, f"stray processes after Ctrl-C: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
