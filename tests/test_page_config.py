"""The play and duel pages get what their scripts must agree on with the server (the point scale,
the duel's starting health, the protocol's message names, its statuses) as json_script data,
built from the server's own constants; static/geogame/round.js reads it."""

import json
import re

from django.test import Client

from geogame.duels import protocol as duel_protocol
from geogame.duels import rules as duel_rules
from geogame.duels.models import Duel
from geogame.game import scoring

HOST = "localhost:8000"


def page_data(response, element_id):
    html = response.content.decode()
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no #{element_id} data in the page"
    return json.loads(found.group(1))


def test_the_play_page_gets_the_point_scale(study_map):
    visitor = Client(HTTP_HOST=HOST)
    created = visitor.post("/", {"display_name": "Ada", "map": study_map.slug, "mode": "coordinates"})
    assert created.status_code == 302, created.content
    assert page_data(visitor.get(created["Location"]), "play-config") == {"max_points": scoring.MAX_POINTS}


def test_the_duel_page_gets_the_starting_health_and_the_protocol_names(study_map):
    host = Client(HTTP_HOST=HOST)
    created = host.post("/duels/", {"display_name": "Ada", "map": study_map.slug, "opponent": "human"})
    assert created.status_code == 302, created.content
    config = page_data(host.get(created["Location"]), "duel-config")
    assert config["start_health"] == duel_rules.START_HEALTH
    assert config["events"] == list(duel_protocol.EVENTS)
    assert config["replies"] == list(duel_protocol.REPLIES)
    assert config["requests"] == ["guess", "sync"]
    assert config["status"] == {"waiting": Duel.WAITING, "active": Duel.ACTIVE, "finished": Duel.FINISHED}
    assert config["reasons"]["last_round"] == duel_rules.LAST_ROUND
