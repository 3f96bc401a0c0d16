"""The deployment files, checked without a container engine (none runs here): the compose
file's structure, and nginx's own problem answers against the app's problem types. The
cluster they describe runs for real on loopback in tests/test_cluster.py, with the same
nginx.conf."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from service.problems import STATUSES, TITLES
from tests.cluster import NGINX_CONF
from tests.servers import ROOT

REPLICAS = ["nabla-1", "nabla-2", "nabla-3"]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_postgres_three_replicas_and_nginx_with_health_checks() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", *REPLICAS, "nginx", "nabla"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service.get("restart") == "unless-stopped", name
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in REPLICAS:
        replica = services[name]
        url = replica["environment"]["NABLA_DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:5432/" in url
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in replica  # reached through nginx only (FORWARDED_ALLOW_IPS)
    nginx = services["nginx"]
    assert nginx["volumes"] == ["./deploy/nginx:/etc/nginx/nabla:ro"]
    assert "/etc/nginx/nabla/nginx.conf" in nginx["command"]
    assert set(nginx["depends_on"]) == set(REPLICAS)
    assert nginx["ports"] == ["127.0.0.1:8000:80"]


def test_the_single_container_setup_stays_available_as_a_profile() -> None:
    single = compose()["services"]["nabla"]
    assert single["profiles"] == ["single"]
    assert single["environment"]["NABLA_DATA_DIR"] == "/data"
    assert "nabla-data:/data" in single["volumes"]
    assert "NABLA_DATABASE_URL" not in single["environment"]


def test_nginx_sends_to_the_compose_replicas_and_listens_on_the_published_port() -> None:
    deploy = NGINX_CONF.parent
    servers = re.findall(r"^server ([\w.-]+):(\d+);", (deploy / "nabla-replicas.conf")
                         .read_text(), re.MULTILINE)
    assert servers == [(name, "8000") for name in REPLICAS]
    assert re.search(r"^listen 80;", (deploy / "nabla-listen.conf").read_text(), re.MULTILINE)
    conf = NGINX_CONF.read_text()
    assert "hash $http_nabla_function consistent;" in conf
    assert "include nabla-replicas.conf;" in conf and "include nabla-listen.conf;" in conf


def test_the_edge_problems_are_the_apps_problem_types() -> None:
    """nginx's own answers are static problem+json bodies in nginx.conf: each must name a
    kind the app documents (at /problems/<kind>) with the same title and status."""
    bodies = [json.loads(body) for body in
              re.findall(r"return \d+ '(.*?)';", NGINX_CONF.read_text())]
    assert {body["kind"] for body in bodies} == {"bad-request", "headers-too-large",
                                                 "uri-too-long", "payload-too-large",
                                                 "replica-unavailable"}
    for body in bodies:
        assert body["type"] == f"/problems/{body['kind']}"
        assert (body["status"], body["title"]) == (STATUSES[body["kind"]], TITLES[body["kind"]])
