"""The process that serves HTTP never imports torch: the model runs in Celery workers or, in the
embedded default (no REDIS_URL), in child processes of the web process (geogame.common.background).

A real daphne (tests/torch_free_server.py: daphne in a Python process that lists its modules at
exit) serves a fresh database with a trained map. Every URL pattern of the resolver is requested,
with the objects it needs: a game against the trained machine player and a guess, a duel, a study
played, the staff pages, a benchmark report, /healthz, and the privacy check of an uploaded photo,
whose image score the trained model computes. Then daphne stops and its module list is read."""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from harness.duel_stack import Session
from harness.fixture_map import CITY_TINTS, build_fixture_folder, make_image_bytes
from harness.live_server import manage, server_env
from tools.stack import Web, free_port, wait_until

WRAPPER = Path(__file__).with_name("torch_free_server.py")
MAP_NAME, MAP_SLUG = "Torch free", "torch-free"
STAFF = ("staff", "staff-pass-1234")
WAIT_S = 120  # the first model task starts a model process: Django, torch and the model load there
HEAVY = ("torch", "torchvision", "open_clip", "transformers")


def url_pattern_names(patterns=None, prefix=""):
    """(namespace:name, route) of every named URL pattern outside the admin, and whether the admin
    is routed."""
    names = set()
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                names.add("admin")
                continue
            names |= url_pattern_names(p.url_patterns, prefix + (f"{p.namespace}:" if p.namespace else ""))
        elif isinstance(p, URLPattern):
            assert p.name, f"URL pattern {p.pattern} has no name: name it, so this test can see it covered"
            names.add(prefix + p.name)
    return names


class Browser(Session):
    """A cookie session that reports (status, body) of any answer, and sends forms and JSON
    with the CSRF token as the pages do."""

    def request(self, path, *, data=None, content_type=None, headers=None):
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers or {})
        if content_type:
            request.add_header("Content-Type", content_type)
        if data is not None:
            request.add_header("X-CSRFToken", self.csrf())
        try:
            with self.opener.open(request, timeout=WAIT_S) as r:
                return r.status, r.geturl(), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read()

    def csrf(self):
        if not any(c.name == "csrftoken" for c in self.jar):
            self.request("/privacy/")  # a page with a form sets the cookie
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def form(self, path, fields):
        return self.request(
            path,
            data=urllib.parse.urlencode({"csrfmiddlewaretoken": self.csrf(), **fields}).encode(),
            content_type="application/x-www-form-urlencoded",
        )

    def json(self, path, body):
        return self.request(path, data=json.dumps(body).encode(), content_type="application/json")

    def multipart(self, path, fields, files):
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
        body = "".join(parts).encode()
        for name, data in files.items():
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            )
            body += head.encode() + data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        return self.request(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A fresh database with a map, its hierarchical player trained, a benchmark report and a staff
    account (all made by management commands, as an operator would)."""
    workdir = tmp_path_factory.mktemp("torch-free")
    folder = workdir / "map"
    folder.mkdir()
    build_fixture_folder(folder, per_city=13, held_out=False)  # enough held-out places for a daily
    env = server_env(workdir)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "import_map", str(folder), "--name", MAP_NAME, "--panorama-view", "on", "--no-progress")
    manage(env, "train_player", MAP_SLUG, "--player", "hierarchical", "--no-progress")
    manage(env, "benchmark", MAP_SLUG, "--players", "random,centroid")
    manage({**env, "DJANGO_SUPERUSER_PASSWORD": STAFF[1]}, "createsuperuser", "--noinput",
           "--username", STAFF[0], "--email", "staff@example.invalid")  # fmt: skip
    return workdir


def serve(workdir, modules_file, **settings):
    env = {**server_env(workdir), "GEOGAME_TEST_MODULES_FILE": str(modules_file), **settings}
    web = Web("web", host="127.0.0.1", port=free_port(), env=env, log_path=workdir / "daphne.log")
    web.argv = [sys.executable, str(WRAPPER), *web.argv[1:]]  # daphne's arguments, run by the wrapper
    return web


class Visits:
    """Requests, each checked to answer below 500 and recorded by the URL patterns it resolves to
    (and any redirect)."""

    def __init__(self):
        self.names = set()

    def __call__(self, browser, method, path, *args, expect=None, **kwargs):
        status, url, body = getattr(browser, method)(path, *args, **kwargs)
        for requested in {path, url.removeprefix(browser.base_url)}:  # and where it redirected to
            match = resolve(urllib.parse.urlsplit(requested).path)
            name = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
            self.names.add("admin" if match.namespace == "admin" else name)
        assert status < 500, f"{method} {path}: {status}\n{body[:2000]!r}"
        if expect is not None:
            assert status == expect, f"{method} {path}: {status}, not {expect}\n{body[:2000]!r}"
        return status, url, body


def exercise_every_view(base_url):
    """Every URL pattern, requested with what it needs; the names of the patterns requested."""
    visit = Visits()
    player, staff = Browser(base_url), Browser(base_url)

    visit(player, "request", "/", expect=200)
    visit(player, "request", "/healthz", expect=200)
    visit(player, "request", "/livez", expect=200)

    # The privacy check: the page, and the JSON endpoint, with a photo the trained model scores.
    visit(player, "request", "/privacy/", expect=200)
    stuttgart = make_image_bytes(seed=901, tint=CITY_TINTS[0])
    fields = {"caption": "Back in Stuttgart", "map": MAP_SLUG}
    _, _, body = visit(player, "multipart", "/api/privacy/", fields, {"image": stuttgart}, expect=200)
    image = json.loads(body)["image"]
    assert image["available"], image  # the model scored it (in a model process)
    assert 0.0 <= image["score"] <= 1.0
    _, _, page = visit(player, "multipart", "/privacy/", fields, {"view0": stuttgart}, expect=200)
    assert b'id="views"' in page

    # A game against the trained machine player: its guess is a model task too.
    _, url, _ = visit(
        player, "form", "/", {"display_name": "Ada", "map": MAP_SLUG, "opponent": "hierarchical"}, expect=200
    )
    game_id = re.search(r"/play/([0-9a-f-]{36})/$", url)[1]
    visit(player, "request", f"/play/{game_id}/", expect=200)
    _, _, body = visit(player, "json", f"/api/games/{game_id}/next/", {}, expect=200)
    state = json.loads(body)
    view = state["round"]["views"][0]
    visit(player, "request", view["url"], expect=200)
    visit(player, "request", view["thumb"], expect=200)
    # The 360-degree view (the map offers it): served where the place has a panorama, else a 404.
    panorama = state["round"]["panorama"]
    visit(
        player,
        "request",
        panorama or view["url"].rsplit("/", 1)[0] + "/pano.jpg",
        expect=200 if panorama else 404,
    )
    index = state["round"]["index"]
    guess = {"lat": 48.0, "lon": 9.0, "views_seen": [0]}
    visit(player, "json", state["round"]["guess_url"], guess, expect=201)

    def machine_guessed():
        _, _, body = visit(player, "request", f"/api/games/{game_id}/")
        result = json.loads(body)["result"]
        return result and result["round"] == index and result.get("opponent")

    wait_until(machine_guessed, timeout_s=WAIT_S, what="the machine player's guess")
    visit(player, "request", f"/games/{game_id}/summary/", expect=200)
    visit(player, "request", "/machines/", expect=200)
    visit(player, "request", "/api/basemap/cities.json", expect=200)
    visit(player, "request", "/api/basemap/lakes.json", expect=200)
    visit(player, "request", "/api/basemap/admin1.json", expect=200)

    # A duel, and its invitation to a second person.
    visit(player, "request", "/duels/", expect=200)
    duel = {"display_name": "Ada", "map": MAP_SLUG, "opponent": "human"}
    _, url, _ = visit(player, "form", "/duels/", duel)
    duel_id = re.search(r"/duels/([0-9a-f-]{36})/$", url)[1]
    _, _, page = visit(player, "request", f"/duels/{duel_id}/", expect=200)
    invite = re.search(rb"/duels/join/([^/\"<]+)/", page)[1].decode()
    visit(Browser(base_url), "request", f"/duels/join/{invite}/", expect=200)

    # Staff: log in, then every staff page.
    visit(staff, "request", "/admin/login/", expect=200)
    login = {"username": STAFF[0], "password": STAFF[1]}
    _, url, _ = visit(staff, "form", "/admin/login/?next=/admin/", login)
    assert url.endswith("/admin/"), url
    for model in admin.site._registry:
        meta = model._meta
        visit(staff, "request", f"/admin/{meta.app_label}/{meta.model_name}/", expect=200)
    visit(staff, "request", f"/maps/{MAP_SLUG}/players/", expect=200)
    visit(staff, "request", f"/api/maps/{MAP_SLUG}/players/", expect=200)
    visit(staff, "request", "/builds/", expect=200)
    visit(staff, "request", "/api/builds/", expect=200)
    visit(staff, "form", "/builds/999999/resume/", {}, expect=404)  # no such build: the view answers
    _, _, page = visit(staff, "request", "/benchmarks/", expect=200)
    report = re.search(rb"/benchmarks/([0-9a-f-]{36})/", page)[1].decode()
    _, _, page = visit(staff, "request", f"/benchmarks/{report}/", expect=200)
    report_file = re.search(rb"/benchmarks/[0-9a-f-]{36}/files/([^\"<]+)\"", page)[1].decode()
    visit(staff, "request", f"/benchmarks/{report}/files/{report_file}", expect=200)

    # A bot: staff register it (its token shown once); it plays a game against it over the bot API.
    _, _, page = visit(staff, "form", "/staff/bots/", {"name": "torch-free-bot"}, expect=200)
    bot = {"Authorization": "Bearer " + re.search(rb'<code id="token">([^<]+)<', page)[1].decode()}
    game = {"display_name": "Ada", "map": MAP_SLUG, "opponent": "bot:torch-free-bot"}
    _, url, _ = visit(player, "form", "/", game)
    bot_game = re.search(r"/play/([0-9a-f-]{36})/$", url)[1]
    visit(player, "json", f"/api/games/{bot_game}/next/", {}, expect=200)
    _, _, body = visit(Browser(base_url), "request", "/api/bot/rounds/next?wait=5", headers=bot, expect=200)
    offer = json.loads(body)
    visit(Browser(base_url), "request", offer["views"][0].removeprefix(base_url), headers=bot, expect=200)
    pin = json.dumps({"lat": 48.0, "lon": 9.0}).encode()
    guess_path = offer["guess_url"].removeprefix(base_url)
    headers = {**bot, "Content-Type": "application/json"}
    visit(Browser(base_url), "request", guess_path, data=pin, headers=headers, expect=201)
    visit(staff, "form", "/staff/bots/torch-free-bot/revoke", {}, expect=200)  # back to the list

    # A study (made after the game: it reserves places): join, play a trial, withdraw; its staff pages.
    visit(staff, "request", "/staff/studies/", expect=200)
    study = {"map": MAP_SLUG, "name": "Torch study", "mode": "coordinates", "practice_count": 1}
    study.update(test_count=1, consent_text="I agree to take part.")
    _, url, page = visit(staff, "form", "/staff/studies/", study, expect=200)
    study_slug = re.search(r"/staff/studies/([-a-z0-9]+)/$", url)[1]
    study_link = urllib.parse.urlsplit(re.search(rb'id="study-link">([^<]+)<', page)[1].decode()).path
    participant = Browser(base_url)
    visit(participant, "request", study_link, expect=200)
    _, url, _ = visit(participant, "form", study_link, {"consent": "yes"}, expect=200)
    pid = re.search(r"/study/r/([A-Za-z0-9_-]{43})/$", url)[1]
    visit(participant, "request", f"/study/r/{pid}/", expect=200)
    _, _, body = visit(participant, "json", f"/api/study/r/{pid}/next/", {}, expect=200)
    trial = json.loads(body)["round"]
    visit(participant, "request", f"/api/study/r/{pid}/", expect=200)
    visit(participant, "json", trial["guess_url"], {"lat": 48.0, "lon": 9.0, "phase": trial.get("phase")})
    visit(participant, "request", f"/study/r/{pid}/test/", expect=200)
    visit(participant, "form", f"/study/r/{pid}/test/", {}, expect=200)
    visit(participant, "request", f"/study/r/{pid}/done/", expect=200)
    visit(participant, "request", f"/study/r/{pid}/withdraw/", expect=200)
    visit(participant, "form", f"/study/r/{pid}/withdraw/", {}, expect=200)
    visit(staff, "request", f"/staff/studies/{study_slug}/export.csv", expect=200)
    _, url, page = visit(Browser(base_url), "form", study_link, {"consent": "yes"}, expect=200)
    # This one asks the staff to delete their rows, by the id their page shows.
    other = re.search(rb'id="participant-id">([0-9a-f-]{36})<', page)[1].decode()
    visit(staff, "form", f"/staff/studies/{study_slug}/withdraw/", {"participant": other}, expect=200)
    visit(staff, "form", f"/staff/studies/{study_slug}/status/", {"status": "closed"}, expect=200)
    # A country streak: its pages, a round's photos, an answer, and the boards.
    visit(player, "request", "/streaks/", expect=200)
    _, url, _ = visit(player, "form", "/streaks/", {"display_name": "Ada", "map": MAP_SLUG}, expect=200)
    streak_id = re.search(r"/streaks/([0-9a-f-]{36})/$", url)[1]
    _, _, body = visit(player, "request", f"/api/streaks/{streak_id}/", expect=200)
    streak_round = json.loads(body)["round"]
    visit(player, "request", streak_round["views"][0]["url"], expect=200)
    visit(player, "request", streak_round["views"][0]["thumb"], expect=200)
    visit(player, "json", streak_round["guess_url"], {"country": "FR"}, expect=201)
    visit(player, "request", "/streaks/board/", expect=200)
    visit(player, "request", f"/streaks/board/{MAP_SLUG}/", expect=200)

    # History, challenges, the daily and the leaderboards (the daily's machine attempts are model tasks),
    # last: the daily holds five places from every other game today.
    visit(player, "request", f"/me/games/{game_id}/", expect=200)
    visit(player, "request", "/me/", expect=200)
    visit(player, "form", f"/challenges/from/{game_id}/", {})  # 409 while the game is unfinished
    visit(player, "request", "/challenges/no-such-challenge/", expect=404)
    visit(player, "form", "/challenges/no-such-challenge/play/", {}, expect=404)
    visit(player, "request", "/daily/", expect=200)
    visit(player, "form", f"/daily/{MAP_SLUG}/play/", {}, expect=200)  # the map has a daily
    visit(player, "request", f"/daily/{MAP_SLUG}/{datetime.now(UTC).date().isoformat()}/")
    visit(player, "request", "/daily/archive/", expect=200)
    visit(player, "request", "/leaderboards/", expect=200)
    visit(player, "request", f"/leaderboards/{MAP_SLUG}/", expect=200)

    # Accounts.
    account = Browser(base_url)
    for path in ("/accounts/signup/", "/accounts/login/", "/accounts/password-reset/",
                 "/accounts/password-reset/sent/", "/accounts/reset/done/"):  # fmt: skip
        visit(account, "request", path, expect=200)
    visit(account, "request", "/accounts/reset/MQ/not-a-token/", expect=200)  # says the link is invalid
    visit(account, "form", "/accounts/logout/", {})
    return visit.names


def test_the_web_process_serves_every_view_without_importing_torch(workdir):
    modules_file = workdir / "modules.txt"
    web = serve(workdir, modules_file)
    web.start()
    try:
        web.wait_ready()
        names = exercise_every_view(web.url)
    except BaseException:
        print(f"--- daphne log ---\n{web.current_log()}")
        raise
    finally:
        web.stop()
    assert names == url_pattern_names(), "every URL pattern is requested (add a request for a new one)"
    assert modules_file.is_file(), f"daphne did not exit cleanly:\n{web.current_log()}"
    modules = set(modules_file.read_text().split())
    assert "config.asgi" in modules and "geogame.privacy.views" in modules  # it served the app
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not loaded, f"the web process imported {loaded[:10]}"
