"""docker-compose.yml, checked without a Docker engine.

The file is validated against the Compose specification's JSON schema
(``compose-spec.json`` beside this test: the compose-spec project's schema as
the npm package ``dclint`` 3.1.0 ships it, MIT), every command of a service built from
our image is parsed by the CLI that will run it, every file mounted from the
repository exists, and every metric the Grafana dashboard queries is one that
``renum.metrics`` defines.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from renum import metrics
from renum.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose-spec.json")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert problems == []


def test_the_stack_is_complete(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "--appendonly" in services["redis"]["command"]
    assert services["migrate"]["command"] == ["renum", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["deploy"]["replicas"] == 2
    assert "ports" not in services["api"] and "ports" in services["proxy"]
    assert {"ports", "container_name"}.isdisjoint(services["worker"])  # --scale works
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert {"suna-sim", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert not image.endswith(":latest") and (":" in image or "build" in service), name


def _commands(compose: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (name, s["command"])
        for name, s in compose["services"].items()
        if "build" in s and "command" in s
    ]


def test_every_command_of_our_image_exists_in_the_package(compose: dict[str, Any]) -> None:
    commands = _commands(compose)
    assert {name for name, _ in commands} == {"migrate", "api", "worker", "suna-sim"}
    for name, command in commands:
        if command[0] == "renum":
            _parser().parse_args(command[1:])  # SystemExit(2) if a flag does not exist
        else:
            assert command[:2] == ["python", "-m"], name
            module = command[2]
            assert importlib.util.find_spec(module) is not None, name
            assert importlib.util.find_spec(f"{module}.__main__") is not None, name
            if module == "suna_sim":
                from suna_sim.__main__ import parse_args

                parse_args(command[3:])
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("renum", "suna_client", "suna_sim", "dsl", "migrations"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_prometheus_scrapes_every_api_replica_and_worker(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["renum-api"]["dns_sd_configs"][0]
    worker = jobs["renum-worker"]["dns_sd_configs"][0]
    assert (api["names"], api["port"]) == (["api"], 8000)
    worker_cmd = compose["services"]["worker"]["command"]
    assert (worker["names"], str(worker["port"])) == (
        ["worker"],
        worker_cmd[worker_cmd.index("--metrics-port") + 1],
    )


def test_dashboard_queries_only_defined_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/renum.json").read_text())
    defined = {
        family.name
        for name in metrics.__all__
        if name.isupper()
        for family in getattr(getattr(metrics, name), "describe", list)()
    }
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for expr in exprs
        for name in re.findall(r"\brenum_[a-z_]+", expr)
    }
    assert used <= defined, used - defined
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in (
        "status",
        "latency",
        "suna errors",
        "tokens",
        "cost",
        "budget",
        "queue",
        "circuit breaker",
    ):
        assert topic in titles, topic
