"""Deployment: production settings pass `manage.py check --deploy` (with the environment
docker-compose.yml gives), the development default still runs with no environment at all,
docker-compose.yml agrees with the settings it names, migrations match the models, every form
carries a CSRF token and the staff pages turn anonymous visitors away.

Docker cannot run here: the compose file is parsed and checked, not started (tools/stack.py
runs the same topology; tests/test_stack.py)."""

import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config import settings as settings_module

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "worker-gpu")
# Where staff-only pages live; every route under them must turn anonymous visitors away.
STAFF_PREFIXES = ("builds/", "api/builds/", "staff/", "benchmarks/", "maps/", "api/maps/")
# Exempt from CSRF on purpose: stateless APIs that read no session or cookie (a forged request
# gets the same answer anyone gets), each with its reason. A new exemption is a decision: add it here.
CSRF_EXEMPT = {"api/privacy/": "the privacy check of uploaded photos: no session, same answer for anyone"}
SETTINGS_SOURCE = (REPO / "config" / "settings.py").read_text()


def clean_env(**settings):
    """This process's environment without any geogame setting, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GEOGAME_") and k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update({k: str(v) for k, v in settings.items()})
    return env


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def interpolate(value, given):
    """docker compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with `given` as the shell's."""

    def one(m):
        name, op, arg = m[1], m[2], m[3]
        if given.get(name):
            return given[name]
        if op == ":?":
            raise KeyError(f"{name} must be set: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value).replace("$$", "$")


def compose_env(service, given):
    environment = yaml.safe_load(COMPOSE.read_text())["services"][service]["environment"]
    return {k: interpolate(str(v), given) for k, v in environment.items()}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_production_settings_from_the_compose_file_pass_check_deploy():
    env = clean_env(**compose_env("web", {"GEOGAME_SECRET_KEY": secrets.token_urlsafe(50)}))
    proc = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_production_settings_behind_a_tls_proxy_pass_check_deploy(tmp_path):
    env = clean_env(
        GEOGAME_PRODUCTION=1,
        GEOGAME_SECRET_KEY=secrets.token_urlsafe(50),
        GEOGAME_ALLOWED_HOSTS="geogame.example.org",
        GEOGAME_TRUST_X_FORWARDED_PROTO=1,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    proc = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_development_default_runs_with_no_environment_but_is_not_deployable():
    env = clean_env()
    assert manage(env, "check").returncode == 0
    deploy = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert deploy.returncode != 0
    for warning in ("security.W004", "security.W009", "security.W012", "security.W016"):
        assert warning in deploy.stderr, deploy.stderr


@pytest.mark.parametrize(
    "env_settings, message",
    [
        ({"GEOGAME_PRODUCTION": 1}, "GEOGAME_SECRET_KEY must be set when GEOGAME_PRODUCTION is set"),
        (
            {"GEOGAME_PRODUCTION": 1, "GEOGAME_SECRET_KEY": "x" * 60, "GEOGAME_DEBUG": 1},
            "GEOGAME_DEBUG must be off when GEOGAME_PRODUCTION is set",
        ),
        ({"GEOGAME_HSTS_SECONDS": "a year"}, "GEOGAME_HSTS_SECONDS must be an integer"),
        # Weak keys (Django's check --deploy criterion, enforced): short, the public development key,
        # long but with fewer than 5 distinct characters.
        ({"GEOGAME_PRODUCTION": 1, "GEOGAME_SECRET_KEY": "secret"}, "GEOGAME_SECRET_KEY is too weak"),
        (
            {"GEOGAME_PRODUCTION": 1, "GEOGAME_SECRET_KEY": settings_module.DEVELOPMENT_SECRET_KEY},
            "GEOGAME_SECRET_KEY is too weak",
        ),
        ({"GEOGAME_PRODUCTION": 1, "GEOGAME_SECRET_KEY": "abcd" * 20}, "GEOGAME_SECRET_KEY is too weak"),
    ],
)
def test_unsafe_or_broken_production_settings_refuse_to_start(env_settings, message):
    proc = manage(clean_env(**env_settings), "check")
    assert proc.returncode != 0
    assert message in proc.stderr


def test_the_compose_file_has_every_service_with_health_checks_and_volumes_the_settings_use(
    compose, settings
):
    services = compose["services"]
    assert {"db", "redis", "migrate", "web", "worker", "worker-gpu"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
    for name in ("db", "redis", "web", "worker", "worker-gpu"):
        assert services[name]["healthcheck"]["test"], name

    web = services["web"]
    assert web["command"].startswith("daphne -b 0.0.0.0 -p 8000 ")
    assert web["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "geogame.common.healthcheck",
        "http://127.0.0.1:8000/healthz",
    ]
    assert "inspect ping" in services["worker"]["healthcheck"]["test"][1]

    declared = set(compose["volumes"])
    settings.DATA_DIR = Path("/data")
    settings.MEDIA_ROOT = settings.DATA_DIR / "media"
    from inference.runtime import artefact_root

    for name in APP_SERVICES:
        service = services[name]
        assert service["environment"]["GEOGAME_DATA_DIR"] == str(settings.DATA_DIR)
        mounts = dict(reversed(v.split(":")) for v in service["volumes"])
        assert mounts[str(settings.MEDIA_ROOT)] in declared and mounts[str(artefact_root())] in declared
        assert mounts["/data"] in declared
        # Every setting the compose file gives is one config/settings.py reads.
        for variable in service["environment"]:
            assert f'"{variable}"' in SETTINGS_SOURCE, (
                f"{name} sets {variable}, which settings.py never reads"
            )


def test_the_gpu_worker_reserves_an_nvidia_device_and_builds_torch_with_cuda(compose):
    gpu = compose["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]  # only with `--profile gpu`: a machine without a GPU starts without it
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"] and device["count"] >= 1
    assert gpu["command"] == compose["services"]["worker"]["command"]
    dockerfile = (REPO / "Dockerfile").read_text()
    for arg in gpu["build"]["args"]:
        assert re.search(rf"^ARG {arg}\b", dockerfile, re.M), f"the Dockerfile has no ARG {arg}"
    assert "pip install" in dockerfile and "-r requirements.txt" in dockerfile


def test_the_models_need_no_migration_that_is_not_written():
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = manage(env, "makemigrations", "--check", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_post_form_carries_a_csrf_token():
    forms = 0
    for template in (REPO / "templates").rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.S | re.I):
            if re.search(r'method\s*=\s*"post"', form, re.I):
                forms += 1
                assert "{% csrf_token %}" in form, f"a POST form in {template} has no CSRF token"
    assert forms >= 5


def flat_routes(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from flat_routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route, p.callback


def example_path(route):
    """A concrete path for a route, its parameters filled with values of their type."""
    values = {"int": "1", "uuid": str(uuid.uuid4()), "slug": "some-map", "str": "x", "path": "x"}
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: values[m[1] or "str"], route)


def test_no_view_is_exempt_from_csrf_but_the_stateless_apis_listed():
    exempt = [
        route
        for route, view in flat_routes(get_resolver().url_patterns)
        if getattr(view, "csrf_exempt", False)
    ]
    assert sorted(exempt) == sorted(CSRF_EXEMPT)


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused(fixture_map):
    client = Client(enforce_csrf_checks=True)
    r = client.post("/", {"display_name": "Ada", "map": fixture_map.slug, "mode": "coordinates"})
    assert r.status_code == 403
    r = client.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "centroid"})
    assert r.status_code == 403


@pytest.mark.django_db
def test_staff_pages_and_exports_turn_anonymous_visitors_to_the_admin_login():
    staff_routes = [
        route for route, _ in flat_routes(get_resolver().url_patterns) if route.startswith(STAFF_PREFIXES)
    ]
    assert len(staff_routes) >= 5
    client = Client()
    for path in ["/admin/", *map(example_path, staff_routes)]:
        for method in (client.get, client.post):
            r = method(path)
            assert r.status_code == 302 and r["Location"].startswith("/admin/login/"), (path, r.status_code)
