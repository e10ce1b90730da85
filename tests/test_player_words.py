"""What players read (issue 16): machine players by their player-facing names, only those that
can play; the technical lines on "How the machines play"; styled error pages."""

import re

import pytest
from django.test import Client
from django.test.client import RequestFactory

from geogame.game import machines
from inference.registry import PLAYERS

pytestmark = pytest.mark.django_db

DEVELOPER_WORDS = ("seed 0", "logits", "manage.py", "training split", "unit-sphere", "open_clip")


def options(html, select_id):
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*>\s*(.*?)\s*</option>', block, re.S)


def test_every_machine_player_has_a_title_and_a_blurb_without_developer_words():
    for name in PLAYERS:
        title, blurb = machines.title(name), machines.blurb(name)
        assert title and title != name, name
        assert blurb.endswith("."), (name, blurb)
        assert not any(w in blurb.lower() for w in DEVELOPER_WORDS), (name, blurb)


def test_the_home_page_offers_only_players_that_can_play_by_their_titles(fixture_map):
    html = Client().get("/").content.decode()
    offered = dict(options(html, "opponent"))
    # The fixture map has no trained model and no CLIP weights: only the players that need no
    # training play.
    assert set(offered) == {"", "random", "centroid", "retrieval"}
    assert offered["centroid"].startswith(machines.title("centroid") + ":")
    assert "clip" not in offered and "ensemble" not in offered
    for word in DEVELOPER_WORDS:
        assert word not in html, word
    assert 'href="/machines/"' in html


def test_the_duel_lobby_offers_only_players_that_can_play(fixture_map):
    html = Client().get("/duels/").content.decode()
    radios = set(re.findall(r'name="opponent" id="opponent-([a-z]+)"', html))
    assert radios == {"random", "centroid", "retrieval", "human"}
    for word in DEVELOPER_WORDS:
        assert word not in html, word


def test_the_machines_page_keeps_the_technical_lines():
    r = Client().get("/machines/")
    assert r.status_code == 200
    html = r.content.decode()
    for name in PLAYERS:
        assert f'id="machine-{name}"' in html
        assert machines.description(name).replace("'", "&#x27;") in html
    assert "How the machines play" in html


def test_a_game_link_from_another_browser_gets_the_styled_404():
    r = Client().get("/play/00000000-0000-0000-0000-000000000000/")
    assert r.status_code == 404
    html = r.content.decode()
    assert 'id="error-page"' in html and 'data-status="404"' in html
    assert "geogame/style.css" in html  # the site's own page, not Django's bare one


def test_the_403_and_500_pages_are_styled_and_need_no_context():
    from django.core.exceptions import PermissionDenied
    from django.views import defaults

    request = RequestFactory().get("/somewhere/")
    r500 = defaults.server_error(request)
    assert r500.status_code == 500 and b'data-status="500"' in r500.content and b"style.css" in r500.content
    r403 = defaults.permission_denied(request, PermissionDenied())
    assert r403.status_code == 403 and b'data-status="403"' in r403.content
