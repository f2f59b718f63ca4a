"""`renum dev`: the whole product on one machine, in one command.

The supervisor (this process) starts the embedded PostgreSQL and Redis when
their URLs are unset, migrates, then runs the Suna simulator (unless
``SUNA_BASE_URL`` is set), the API and one worker as child processes, and loads
the example teams for the dev user. Children die with it
(``PR_SET_PDEATHSIG``); Ctrl-C or SIGTERM stops the children, then the embedded
servers, leaving no stray process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from renum.auth import mint_token
from renum.db import migrate
from renum.embedded import start_missing
from renum.keys import dev_master_keys
from renum.settings import Settings, dev_secret

__all__ = ["run_dev"]

#: The example workflows loaded as teams for the dev user.
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
#: How long the API may take to answer /healthz before `renum dev` gives up.
STARTUP_TIMEOUT_S = 60.0
#: How long children get to stop after SIGTERM before they are killed.
STOP_TIMEOUT_S = 10.0


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the supervisor dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _say(text: str) -> None:
    print(text, flush=True)


def _wait_healthy(url: str, children: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _load_examples(url: str, token: str) -> list[tuple[str, str]]:
    """Create (or refresh) a team per example workflow; return (name, team id) pairs."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}/v1/teams?limit=200", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        existing = {t["name"]: t["id"] for t in json.load(response)["items"]}
    loaded = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        name = path.stem
        body = json.dumps({"name": name, "description": f"examples/{path.name}",
                           "workflow": json.loads(path.read_text())}).encode()  # fmt: skip
        if name in existing:
            request = urllib.request.Request(
                f"{url}/v1/teams/{existing[name]}", data=body, headers=headers, method="PUT"
            )
        else:
            request = urllib.request.Request(f"{url}/v1/teams", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                loaded.append((name, json.load(response)["id"]))
        except urllib.error.HTTPError as exc:
            _say(f"renum dev: example {path.name} was not loaded ({exc.code})")
    return loaded


def _start_simulator(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "suna_sim", "--port", "0", "--print-url"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                             preexec_fn=_die_with_parent)  # fmt: skip
    assert child.stdout is not None
    url = child.stdout.readline().decode().strip()
    if not url.startswith("http"):
        raise RuntimeError("the Suna simulator did not start")
    return child, url


def run_dev(*, port: int | None = None) -> int:
    """Run the dev stack until Ctrl-C; return the exit code."""
    base = Settings()
    data_dir = base.data_dir.absolute()
    jwt_secret = base.jwt_secret
    if jwt_secret is None:
        jwt_secret, created = dev_secret(data_dir, "jwt_secret")
        where = Path(data_dir / "jwt_secret")
        _say(f"renum dev: {'generated' if created else 'using'} the dev JWT secret in {where}")
    master_keys = base.master_keys
    if master_keys is None:
        master_keys = dev_master_keys(data_dir)
        _say(f"renum dev: using the dev master key in {data_dir / 'master_key'}")
    port = port if port is not None else base.port

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    children: list[subprocess.Popen[bytes]] = []
    servers = None
    try:
        _say("renum dev: starting PostgreSQL and Redis…")
        servers = start_missing(base.database_url, base.redis_url, data_dir)
        assert servers.database_url is not None and servers.redis_url is not None
        applied = asyncio.run(migrate(servers.database_url))
        _say(f"renum dev: database migrated ({len(applied)} applied now)")
        env = {
            **os.environ,
            "DATABASE_URL": servers.database_url,
            "REDIS_URL": servers.redis_url,
            "RENUM_JWT_SECRET": jwt_secret,
            "RENUM_MASTER_KEYS": master_keys,
            "RENUM_DEV": "1",
            "RENUM_DATA_DIR": str(data_dir),
        }
        if base.suna_base_url_set:
            _say(f"renum dev: using the Suna API at {base.suna_base_url}")
        else:
            suna_secret, _ = dev_secret(data_dir, "suna_jwt_secret")
            env.update(SUNA_JWT_SECRET=suna_secret)
            simulator, suna_url = _start_simulator(env)
            children.append(simulator)
            env.update(SUNA_BASE_URL=suna_url)
            _say(f"renum dev: Suna simulator at {suna_url}")
        api = [sys.executable, "-m", "renum", "serve", "--host", base.host, "--port", str(port)]
        children.append(subprocess.Popen(api, env=env, preexec_fn=_die_with_parent))
        worker = [sys.executable, "-m", "renum", "worker"]
        children.append(subprocess.Popen(worker, env=env, preexec_fn=_die_with_parent))
        url = f"http://{base.host}:{port}"
        if not _wait_healthy(f"{url}/healthz", children):
            _say("renum dev: the API did not become healthy; see the log above")
            return 1
        token = mint_token(jwt_secret, "dev-user", ttl_s=7 * 86400)
        teams = _load_examples(url, token)
        _say(f"\nRenum is running at {url}  (API docs: {url}/docs)\n")
        _say(f"Example teams of dev-user: {', '.join(name for name, _ in teams) or 'none'}")
        _say("Try:")
        _say(f"  export TOKEN={token}")
        _say(f"  curl {url}/healthz")
        _say(f'  curl -H "Authorization: Bearer $TOKEN" {url}/v1/me')
        if teams:
            name, team_id = next(((n, i) for n, i in teams if n == "support-router"), teams[0])
            _say(f"  # launch the {name} team, then follow it live:")
            _say(
                f"  curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
                f'-d \'{{"initial_prompt": "My invoice is wrong"}}\' '
                f"{url}/v1/teams/{team_id}/executions"
            )
            _say(
                f'  curl -N -H "Authorization: Bearer $TOKEN" '
                f"{url}/v1/executions/<execution_id>/events"
            )
            _say("  # or all of it, live, in one command:")
            _say(f'  renum run examples/{name}.json --prompt "My invoice is wrong" --url {url}')
        _say("\nPress Ctrl-C to stop everything.")
        # Block until any child exits (without reaping it, so Popen still sees it).
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        _say("renum dev: a process exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        _say("\nrenum dev: stopping…")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(children)
        if servers is not None:
            servers.stop()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
