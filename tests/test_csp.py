"""The Content-Security-Policy (config/settings.py, geogame/common/content_security.py): every page
sends a strict one, and no page or template carries what it would block (inline scripts, inline
styles, on*= handlers), which would otherwise break silently in the browser. Pages are rendered
with hostile text in every field a visitor or a manifest controls (tests/test_xss_browser.py
checks the same text in a real browser)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from geogame.benchmarks.models import BenchmarkReport
from geogame.duels.models import Duel
from geogame.maps.importer import map_refresh_city_centres
from geogame.maps.models import Location
from geogame.studies import services as study_services
from geogame.studies.models import Participant, Study

REPO = Path(__file__).resolve().parents[1]
HOST = "localhost:8000"  # one of the default ALLOWED_HOSTS
HOSTILE_NAME = "<img src=x onerror=document.title=1>"  # a display name is at most 40 characters
HOSTILE_PLACE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def policy(response):
    """The response's Content-Security-Policy as {directive: set of sources}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice in {header}"
        directives[name] = set(sources)
    return directives


class Blockable(HTMLParser):
    """What a strict policy would block in a page: inline scripts (anything but a src= script or
    json_script's data), <style> blocks, style= attributes, on*= handlers and javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.found.append(f"inline <script {attrs}>")
        if tag == "style":
            self.found.append("<style> block")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value!r}>")


def blockable(html):
    parser = Blockable()
    parser.feed(html)
    parser.close()
    return parser.found


def client():
    return Client(HTTP_HOST=HOST)


@pytest.fixture
def hostile_map(study_map):
    """The study map with a manifest's worst: markup in every city and country."""
    for loc in Location.objects.filter(map=study_map):
        loc.city = f"{HOSTILE_PLACE} {loc.city}"
        loc.country = f"{HOSTILE_PLACE} {loc.country}"
        loc.save(update_fields=["city", "country"])
    map_refresh_city_centres(study_map)  # as an import of that manifest would
    return study_map


@pytest.fixture
def pages(hostile_map):
    """Every kind of page, rendered with hostile names: [(label, response)]."""
    out = []

    def get(label, c, url):
        out.append((label, c.get(url, follow=True)))

    visitor = client()
    get("home", visitor, "/")
    r = visitor.post("/", {"display_name": HOSTILE_NAME, "map": hostile_map.slug, "mode": "city"})
    assert r.status_code == 302, r.content
    play_url = r["Location"]
    get("play", visitor, play_url)
    get("summary", visitor, play_url.replace("/play/", "/games/") + "summary/")
    get("privacy", visitor, "/privacy/")
    get("streaks", visitor, "/streaks/")
    r = visitor.post("/streaks/", {"display_name": HOSTILE_NAME, "map": hostile_map.slug})
    assert r.status_code == 302, r.content
    get("streak", visitor, r["Location"])
    streak_round = visitor.get(r["Location"].replace("/streaks/", "/api/streaks/")).json()["round"]
    # A wrong answer (no fixture place is in Japan) ends it, so the board shows the hostile name.
    ended = visitor.post(streak_round["guess_url"], '{"country": "JP"}', content_type="application/json")
    assert ended.json()["status"] == "ended"
    get("streak board", visitor, f"/streaks/board/{hostile_map.slug}/")

    host = client()
    get("duel lobby", host, "/duels/")
    r = host.post("/duels/", {"display_name": HOSTILE_NAME, "map": hostile_map.slug, "opponent": "human"})
    assert r.status_code == 302, r.content
    get("duel (host)", host, r["Location"])
    token = Duel.objects.get().seats.get(seat=1).invite_token
    get("duel invite", client(), f"/duels/join/{token}/")

    study = study_services.study_create(
        map=hostile_map,
        name=HOSTILE_PLACE,
        consent_text=HOSTILE_PLACE,
        practice_count=1,
        test_count=1,
        questions=[{"key": "home", "label": HOSTILE_PLACE, "choices": [HOSTILE_PLACE, "elsewhere"]}],
    )
    participant_client = client()
    get("study join", participant_client, f"/study/{study.link_token}/")
    r = participant_client.post(f"/study/{study.link_token}/", {"consent": "yes"})
    assert r.status_code == 302, r.content
    participant = Participant.objects.get()
    get("study play", participant_client, r["Location"])
    get("study test start", participant_client, f"/study/r/{participant.resume_token}/test/")
    get("study done", participant_client, f"/study/r/{participant.resume_token}/done/")
    get("study withdraw", participant_client, f"/study/r/{participant.resume_token}/withdraw/")
    closed = study_services.study_create(
        map=hostile_map, name="Closed", consent_text="x", practice_count=1, test_count=1
    )
    Study.objects.filter(id=closed.id).update(closes_at="2000-01-01T00:00:00Z")
    out.append(("study closed", client().get(f"/study/{closed.link_token}/")))

    call_command("benchmark", hostile_map.slug, "--study", study.slug, stdout=open("/dev/null", "w"))
    report = BenchmarkReport.objects.get()
    User.objects.create_user("staff", password="pw-staff-1", is_staff=True)
    staff = client()
    get("admin login", staff, "/admin/login/")
    assert staff.login(username="staff", password="pw-staff-1")
    get("staff studies", staff, "/staff/studies/")
    get("staff study", staff, f"/staff/studies/{study.slug}/")
    get("benchmarks", staff, "/benchmarks/")
    get("benchmark report", staff, f"/benchmarks/{report.public_id}/")
    get("builds", staff, "/builds/")
    get("map players", staff, f"/maps/{hostile_map.slug}/players/")
    get("admin", staff, "/admin/")
    return out


def test_every_page_sends_a_strict_policy_beside_the_other_security_headers(pages):
    for label, response in pages:
        assert response.status_code in (200, 410), (label, response.status_code)
        directives = policy(response)
        for name, sources in STRICT.items():
            assert directives.get(name) == sources, (label, name, directives.get(name))
        # Images: the site and the empty favicon (data:); no tile server unless GEOGAME_TILE_URL
        # names one (tests/test_basemap.py).
        assert directives["img-src"] == {"'self'", "data:"}, label
        # The duel socket: this host only (CSP3 browsers count it as 'self', older ones do not).
        assert directives["connect-src"] == {"'self'", f"ws://{HOST}"}, label
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set().union(*directives.values()), label
        assert response.headers["X-Frame-Options"] == "DENY", label
        assert response.headers["X-Content-Type-Options"] == "nosniff", label
    assert {label for label, _ in pages} >= {"home", "play", "duel (host)", "admin login", "benchmark report"}


def test_no_page_renders_an_inline_script_style_or_handler_and_hostile_text_stays_text(pages):
    for label, response in pages:
        html = response.content.decode()
        assert blockable(html) == [], label
        # Markup from a display name, a study or a manifest arrives escaped, never as elements.
        assert "<img src=x" not in html and "<script>alert" not in html, label
    rendered = {label: response.content.decode() for label, response in pages}
    for label in ("summary", "duel invite"):
        assert "&lt;img src=x onerror=document.title=1&gt;" in rendered[label], label
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered["study join"]


def test_the_socket_origin_follows_the_scheme_and_a_bad_host_still_gets_a_policy(db):
    secure = Client(HTTP_HOST=HOST).get("/privacy/", secure=True)
    assert policy(secure)["connect-src"] == {"'self'", f"wss://{HOST}"}
    refused = Client(HTTP_HOST="evil.example").get("/privacy/")
    assert refused.status_code == 400
    assert policy(refused)["connect-src"] == {"'self'"}
    assert policy(refused)["script-src"] == {"'self'"}


TEMPLATE_FILES = sorted([*(REPO / "templates").rglob("*.html"), *REPO.glob("*/templates/**/*.html")])


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_template_has_what_the_policy_blocks_even_in_branches_not_rendered_above(path):
    # Template tags are removed first so that `{% if %}` inside a tag does not confuse the parser.
    source = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", path.read_text(), flags=re.S)
    assert blockable(source) == []


def test_the_scanner_finds_what_it_looks_for():
    page = (
        '<script>x()</script><script src="/a.js"></script><script type="application/json">{}</script>'
        '<style>p{}</style><p style="color:red" onclick="x()"><a href=" JavaScript:x()">a</a>'
    )
    assert blockable(page) == [
        "inline <script {}>",
        "<style> block",
        "<p style='color:red'>",
        "<p onclick=...>",
        "<a href=' JavaScript:x()'>",
    ]
