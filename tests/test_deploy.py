"""Deployment: production settings pass `manage.py check --deploy` (with the environment
docker-compose.yml gives), the development default still runs with no environment at all,
docker-compose.yml agrees with the settings it names, the web image installs no torch and no test
tools while the worker image has torch, migrations match the models, every form carries a CSRF
token and the staff pages turn anonymous visitors away.

Docker cannot run here: the compose file is parsed and checked, not started (tools/stack.py
runs the same topology; tests/test_stack.py)."""

import json
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
DOCKERFILE = REPO / "Dockerfile"
REQUIREMENT_FILES = [REPO / "requirements.txt", *sorted((REPO / "requirements").glob("*.txt"))]
# The image each application service runs: the Dockerfile's target.
SERVICE_TARGETS = {"migrate": "web", "web": "web", "worker": "worker", "worker-gpu": "worker"}
# Tests and tooling (requirements/dev.txt): in neither image.
DEVELOPMENT_ONLY = {
    "pytest", "pytest-django", "pytest-timeout", "selenium", "ruff", "hypothesis", "import-linter"
}  # fmt: skip
# The machine players' stack (requirements/worker.txt): not in the web image.
WORKER_ONLY = {"torch", "torchvision", "open-clip-torch", "timm", "scikit-learn", "matplotlib"}
APP_SERVICES = ("migrate", "web", "worker", "worker-gpu")
# Where staff-only pages live; every route under them must turn anonymous visitors away.
STAFF_PREFIXES = ("builds/", "api/builds/", "staff/", "benchmarks/", "maps/", "api/maps/")
# Exempt from CSRF on purpose: stateless APIs that read no session or cookie (a forged request
# gets the same answer anyone gets), each with its reason. A new exemption is a decision: add it here.
CSRF_EXEMPT = {
    "api/privacy/": "the privacy check of uploaded photos: no session, same answer for anyone",
    "api/bot/rounds/<int:round_id>/guess": "a bot's answer: authorised by its bearer token, never a cookie",
}
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


# Settings are read, never connected with: `check` opens no connection.
PG_URL = "postgres://geogame@127.0.0.1:5432/geogame"


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
        # A pool hands each request's connection back; a kept (persistent) one would never return.
        (
            {"DATABASE_URL": PG_URL, "GEOGAME_DB_POOL_SIZE": 4, "GEOGAME_DB_CONN_MAX_AGE": 60},
            "GEOGAME_DB_POOL_SIZE needs GEOGAME_DB_CONN_MAX_AGE=0",
        ),
        ({"DATABASE_URL": PG_URL, "GEOGAME_DB_POOL_SIZE": -1}, "must be 0 (no pool) or more"),
        ({"DATABASE_URL": PG_URL, "GEOGAME_DB_POOL_SIZE": "eight"}, "must be an integer"),
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
    dockerfile = DOCKERFILE.read_text()
    for arg in gpu["build"]["args"]:
        assert re.search(rf"^ARG {arg}\b", dockerfile, re.M), f"the Dockerfile has no ARG {arg}"
    worker_runs = [a for i, a in target_instructions(dockerfile_stages(), "worker") if i == "RUN"]
    assert gpu["build"]["target"] == "worker" and any("TORCH_INDEX" in run for run in worker_runs)


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


# -- Dependencies: requirements/ and the Dockerfile's two images ---------------------------------------


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path):
    """(file, line) of a requirements file and of the files it includes with `-r`, comments dropped."""
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            yield from requirement_lines(path.parent / line.removeprefix("-r ").strip())
        else:
            yield path, line


def requirement_pins(path):
    """{name: (version, extras)} that `pip install -r path` asks for; every line must pin name==version."""
    pins = {}
    for file, line in requirement_lines(path):
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([\w,-]+)\])?==([\w.+!]+)", line)
        assert m, f"{file.relative_to(REPO)}: {line!r} is not pinned as name==version"
        name = canonical(m[1])
        assert name not in pins, f"{name} is pinned twice in {path.name} or the files it includes"
        pins[name] = (m[3], tuple(m[2].split(",")) if m[2] else ())
    return pins


def dockerfile_stages():
    """{stage: (what it is FROM, [(INSTRUCTION, arguments)])}, continuation lines joined."""
    stages, current = {}, None
    for line in re.sub(r"\\\n", " ", DOCKERFILE.read_text()).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            current = m[2] or f"stage-{len(stages)}"
            stages[current] = (m[1], [])
        else:
            stages[current][1].append((instruction.upper(), args.strip()))
    return stages


def target_instructions(stages, target):
    """A target's instructions, those of the stages it is built FROM first."""
    parent, own = stages[target]
    return (target_instructions(stages, parent) if parent in stages else []) + own


def installed_pins(target):
    """The pins a Dockerfile target's `pip install -r FILE` steps install. Each file, and each file it
    includes, must be in the image by then (COPY), and pip is given no package outside the files."""
    copied, pins = set(), {}
    for instruction, args in target_instructions(dockerfile_stages(), target):
        if instruction == "COPY" and not args.startswith("--"):
            *sources, destination = args.split()
            copied.update(sources)
        elif instruction == "RUN" and "pip install" in args:
            files = re.findall(r"-r\s+(\S+)", args)
            assert files, f"{target}: {args!r} installs something other than a requirements file"
            rest = re.sub(r"\$\{[^}]*\}|-r\s+\S+|--?[\w-]+|pip install|&&", " ", args).split()
            assert not rest, f"{target}: pip installs {rest} outside the requirement files"
            for file in files:
                for included, _ in requirement_lines(REPO / file):
                    assert str(included.relative_to(REPO)) in copied or "." in copied, (
                        f"{target}: {included.relative_to(REPO)} is not copied in before pip reads it"
                    )
                pins.update(requirement_pins(REPO / file))
    return pins


def test_every_requirement_file_pins_each_package_once_and_requirements_txt_installs_them_all():
    everything = requirement_pins(REPO / "requirements.txt")
    for path in REQUIREMENT_FILES:
        assert requirement_pins(path).items() <= everything.items(), path
    assert everything["torch"][0] == "2.13.0"  # the CPU wheel (a looser pin pulls the CUDA build)
    assert DEVELOPMENT_ONLY | WORKER_ONLY <= set(everything)


def test_the_web_image_installs_no_torch_and_no_development_tools():
    web = installed_pins("web")
    assert {"django", "daphne", "channels", "celery", "psycopg"} <= set(web)
    forbidden = web.keys() & (WORKER_ONLY | DEVELOPMENT_ONLY)
    assert not forbidden, f"the web image installs {sorted(forbidden)}"
    assert web == requirement_pins(REPO / "requirements" / "web.txt")


def test_the_worker_image_installs_torch_and_the_web_dependencies_but_no_development_tools():
    worker = installed_pins("worker")
    assert worker["torch"][0] == "2.13.0" and WORKER_ONLY <= set(worker)
    assert installed_pins("web").items() <= worker.items()
    forbidden = worker.keys() & DEVELOPMENT_ONLY
    assert not forbidden, f"the worker image installs {sorted(forbidden)}"


def test_each_compose_service_runs_the_image_it_needs(compose):
    stages = dockerfile_stages()
    images = {}
    for name, target in SERVICE_TARGETS.items():
        build = compose["services"][name]["build"]
        assert build["context"] == "." and build["target"] == target, name
        assert target in stages, f"the Dockerfile has no target {target}"
        images.setdefault(target, set()).add(compose["services"][name]["image"])
    assert not images["web"] & images["worker"], "the web and worker images share a name"
    # `docker build .` without a target makes the last stage: the web image, without torch.
    assert list(stages)[-1] == "web"


def cmd_of(target):
    [args] = [a for i, a in target_instructions(dockerfile_stages(), target) if i == "CMD"][-1:]
    return json.loads(args)


def test_the_images_default_commands_serve_what_the_compose_services_run(compose):
    """`docker run` of either image starts what compose starts: the same ASGI app and Celery app."""
    web_command = compose["services"]["web"]["command"].split()
    assert cmd_of("web")[-1] == web_command[-1]
    worker_command = compose["services"]["worker"]["command"].split()
    assert cmd_of("worker")[:4] == worker_command[:4]  # celery -A APP worker


# Every virtual environment and image has them (setuptools' start-up hook imports _distutils_hack).
VENV_TOOLS = {"pip", "setuptools", "wheel"}
# Imported when installed, skipped when not: with its reason. Anything else must be in web.txt.
OPTIONAL_IN_WEB = {"yaml": "kombu registers its YAML serializer only when PyYAML is installed"}
# The web process: the ASGI app with every view, the web healthcheck, and the management commands
# the compose file runs in the web image (migrate, fetch_sample, import_map). Imports done inside a
# function only when it runs are not seen here.
WEB_IMPORTS_SCRIPT = """
import importlib, json, os, sys, sysconfig
from importlib.metadata import packages_distributions
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.db.migrations.loader import MigrationLoader
from django.urls import get_resolver
from django.utils.module_loading import import_string
import_string(settings.ASGI_APPLICATION)
get_resolver().url_patterns
for name in ("migrate", "fetch_sample", "import_map"):
    load_command_class(get_commands()[name], name)
MigrationLoader(None)
importlib.import_module(os.environ["WEB_HEALTHCHECK_MODULE"])
roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
tops = {n.split(".")[0] for n, m in list(sys.modules.items())
        if any(str(getattr(m, "__file__", None) or "").startswith(r) for r in roots)}
owners = packages_distributions()
print(json.dumps({top: owners.get(top, []) for top in sorted(tops)}))
"""


def installed_closure(pins):
    """The distributions `pins` ({name: (version, extras)}) install: themselves and, by the installed
    metadata, everything they require (with their extras)."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    seen, todo = set(), [(name, extras) for name, (_, extras) in pins.items()]
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in needs:
            need = Requirement(text)
            if need.marker is None or any(need.marker.evaluate({"extra": e}) for e in (*extras, "")):
                todo.append((canonical(need.name), tuple(need.extras)))
    return seen


def test_the_web_process_imports_only_what_requirements_web_txt_installs(compose):
    healthcheck = compose["services"]["web"]["healthcheck"]["test"]
    healthcheck_module = healthcheck[healthcheck.index("-m") + 1]
    proc = manage(clean_env(WEB_HEALTHCHECK_MODULE=healthcheck_module), "shell", "-c", WEB_IMPORTS_SCRIPT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    owners = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"django", "daphne", "channels"} <= set(owners)
    installed = installed_closure(requirement_pins(REPO / "requirements" / "web.txt")) | VENV_TOOLS
    missing = {
        top: dists
        for top, dists in owners.items()
        if dists and top not in OPTIONAL_IN_WEB and not {canonical(d) for d in dists} & installed
    }
    assert not missing, f"the web process imports these, not installed by requirements/web.txt: {missing}"


def test_the_virtualenv_is_set_up_again_when_any_requirement_file_changes():
    makefile = (REPO / "Makefile").read_text()
    prerequisites = re.search(r"^\$\(VENV\)/\.installed:(.*)$", makefile, re.M)[1].split()
    assert {str(p.relative_to(REPO)) for p in REQUIREMENT_FILES} <= set(prerequisites)
    assert "$(BIN)/pip install -r requirements.txt" in makefile


def test_bench_and_the_harness_import_nothing_from_tests():
    """tests/ and bench/ share harness/; neither bench/ nor harness/ imports tests/, so a benchmark
    runs without the test suite."""
    import ast

    files = [*(REPO / "bench").glob("*.py"), *(REPO / "harness").glob("*.py")]
    assert len(files) >= 8
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] != "tests", f"{path.relative_to(REPO)}:{node.lineno} imports {name}"
