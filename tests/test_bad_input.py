"""Hostile input that used to give a 500, close a duel socket with 1011 or forge a log line
(issue 20), each answered with a clear error now. The same ground at random: tests/test_fuzz.py."""

import html
import io
import json
import logging
import re

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils.module_loading import import_string

from geogame.common import geo, json_input, ratelimit, text_input
from geogame.common.middleware import ERR_NUL
from geogame.duels import consumers
from geogame.duels import protocol as duel_protocol
from geogame.game.models import Guess
from geogame.game.services import GameError
from geogame.maps.models import Map
from geogame.privacy.models import PrivacyCheck
from geogame.studies import services as study_services
from geogame.studies.models import Participant, Study
from players.models import Player
from tests.test_game_api import post_json, start_game, state

HUGE = "9" * 400  # the 400-digit integer
OVER_INT_LIMIT = "9" * 5000  # past Python's 4300-digit int conversion limit: json.loads raised ValueError
DEEP = "[" * 5000 + "]" * 5000  # json.loads raised RecursionError


# -- The pure checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lat, lon, message",
    [
        (10**400, 0, geo.ERR_NOT_FINITE),  # float(10**400) raises OverflowError
        (0, -(10**400), geo.ERR_NOT_FINITE),
        ("1e400", 0, geo.ERR_NOT_FINITE),
        (91, 0, "latitude 91 is outside"),
        (90.5, 0, "latitude 90.5 is outside"),
    ],
)
def test_the_one_coordinate_check_refuses_numbers_no_float_can_hold(lat, lon, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        geo.check_latlon(lat, lon)


@pytest.mark.parametrize("lat", ["48.1", True, None, [48], {"v": 48}])
def test_json_coordinates_must_be_numbers_not_text_or_true(lat):
    assert geo.check_latlon("48.1", "9") == (48.1, 9.0)  # a CSV's text is read as a number
    with pytest.raises(ValueError, match=geo.ERR_NOT_NUMBERS):
        geo.check_latlon(lat, 9, numbers_only=True)


@pytest.mark.parametrize(
    "text, reason",
    [
        (DEEP, json_input.ERR_TOO_DEEP),
        ("[" * 5000, json_input.ERR_TOO_DEEP),
        ("[" * (json_input.MAX_DEPTH + 1) + "]" * (json_input.MAX_DEPTH + 1), json_input.ERR_TOO_DEEP),
        ('{"a": ' * 17 + "1" + "}" * 17, json_input.ERR_TOO_DEEP),
        (HUGE, json_input.ERR_BIG_INT),
        (f'{{"lat": -{OVER_INT_LIMIT}}}', json_input.ERR_BIG_INT),
        ("NaN", json_input.ERR_NOT_JSON),
        ("{", json_input.ERR_NOT_JSON),
        (b"\xff\xfe", json_input.ERR_NOT_TEXT),
    ],
)
def test_json_input_turns_every_hostile_document_into_one_error_with_a_reason(text, reason):
    with pytest.raises(json_input.JsonInputError) as refused:
        json_input.loads(text)
    assert refused.value.reason == reason


def test_json_input_keeps_what_is_within_its_bounds():
    nested = "[" * json_input.MAX_DEPTH + "]" * json_input.MAX_DEPTH
    assert json_input.loads(nested) is not None
    assert json_input.loads("-" + "9" * json_input.MAX_INT_DIGITS) == -int("9" * json_input.MAX_INT_DIGITS)
    assert json_input.loads("[1e400]") == [float("inf")]  # a float overflows to inf; checks say "finite"
    values = json_input.loads('[NaN, Infinity, -Infinity]', constants=True)
    assert values[0] != values[0] and values[1:] == [float("inf"), float("-inf")]


@pytest.mark.parametrize(
    "raw, message",
    [
        ("Ada\x00", "contains an unprintable character (U+0000)"),
        ("\x1b[31mAda", "(U+001B)"),
        ("Ada\x7f", "(U+007F)"),
        ("Ada\ud800", "(U+D800)"),
        ("A" * 41, "longer than 40 characters"),
    ],
)
def test_a_typed_name_is_bounded_and_printable(raw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        text_input.clean_name(raw, what="display name", max_chars=40)


def test_a_typed_name_loses_only_its_extra_whitespace():
    assert text_input.clean_name("  Ada\n\t Lovelace ", what="name", max_chars=40) == "Ada Lovelace"
    assert text_input.clean_name("Zoë 🌍 Ωmega", what="name", max_chars=40) == "Zoë 🌍 Ωmega"
    text = "Line one\r\nLine\ttwo"
    assert text_input.check_text(text, what="text", max_chars=100) == text
    with pytest.raises(ValueError, match=re.escape("U+0000")):
        text_input.check_text("Agree\x00", what="the consent text", max_chars=100)


def test_token_buckets_refill_over_time_and_forget_idle_clients():
    now = [0.0]
    bucket = ratelimit.TokenBucket(2, 0.5, clock=lambda: now[0])
    assert [bucket.take(), bucket.take(), bucket.take()] == [True, True, False]
    now[0] = 2.0  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    per_address = ratelimit.TokenBuckets(1, 1.0, max_keys=2, clock=lambda: now[0])
    assert [per_address.take("a"), per_address.take("a"), per_address.take("b")] == [True, False, True]
    now[0] = 10.0
    assert per_address.take("c")  # "a" and "b" had refilled: forgotten to make room
    assert set(per_address.buckets) == {"c"}


# -- HTTP: the game and the study --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, message",
    [
        (f'{{"lat": {HUGE}, "lon": 0}}', json_input.ERR_BIG_INT),
        (f'{{"lat": 0, "lon": {OVER_INT_LIMIT}}}', json_input.ERR_BIG_INT),
        (DEEP, json_input.ERR_TOO_DEEP),
        ('{"lat": 1e400, "lon": 0}', geo.ERR_NOT_FINITE),
        ('{"lat": -Infinity, "lon": 0}', geo.ERR_NOT_FINITE),
        (b'{"lat": "\xff"}', json_input.ERR_NOT_TEXT),
    ],
)
def test_a_guess_with_a_huge_number_or_deep_nesting_gets_a_400_and_stores_nothing(fixture_map, body, message):
    client = Client()
    game = start_game(client, fixture_map)
    url = state(client, game)["round"]["guess_url"]
    response = post_json(client, url, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Guess.objects.count() == 0
    assert post_json(client, url, {"lat": 1, "lon": 2}).status_code == 201


@pytest.mark.django_db
def test_a_study_answer_with_a_huge_number_or_deep_nesting_gets_a_400(study_map):
    study = study_services.study_create(
        map=study_map, name="Coords", consent_text="Ok", mode="coordinates", practice_count=1, test_count=2
    )
    client = Client()
    client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes"})
    participant = Participant.objects.get()
    st = client.get(reverse("api-study-state", args=[participant.resume_token])).json()
    url = st["round"]["guess_url"]
    for body, message in [
        (f'{{"phase": "practice", "lat": {HUGE}, "lon": 0}}', json_input.ERR_BIG_INT),
        (DEEP, json_input.ERR_TOO_DEEP),
        ('{"phase": "practice", "lat": 1e999, "lon": 0}', geo.ERR_NOT_FINITE),
    ]:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400 and message in response.json()["error"], body
    assert Guess.objects.count() == 0


# -- Names people type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, consent, message",
    [
        ("Pilot\x00", "Agree?", "the study's name contains an unprintable character (U+0000)"),
        ("Pilot\x1b[2J", "Agree?", "the study's name contains an unprintable character (U+001B)"),
        ("P" * 101, "Agree?", "the study's name is longer than 100 characters"),
        ("Pilot", "Agree\x00?", "the consent text contains an unprintable character (U+0000)"),
        ("Pilot", "Agree\x07?", "the consent text contains an unprintable character (U+0007)"),
    ],
)
def test_a_study_name_or_consent_with_control_characters_or_too_long_is_refused_on_every_database(
    study_map, staff_client, name, consent, message
):
    """The form (multipart here; urlencoded, a NUL stops at the middleware) and the service."""
    form = {"name": name, "consent_text": consent, "map": study_map.slug, "mode": "city", "test_count": "5"}
    response = staff_client.post(reverse("staff-studies"), form)
    assert response.status_code == 400
    assert html.escape(message) in response.content.decode()
    with pytest.raises(GameError, match=re.escape(message)):
        study_services.study_create(map=study_map, name=name, consent_text=consent, test_count=5)
    assert Study.objects.count() == 0


def test_the_create_study_command_refuses_a_bad_name_in_one_line(study_map):
    with pytest.raises(CommandError, match=r"longer than 100 characters"):
        call_command("create_study", study_map.slug, "--name", "x" * 101, "--test", "2", stdout=io.StringIO())
    with pytest.raises(CommandError, match=re.escape("(U+001B)")):
        call_command("create_study", study_map.slug, "--name", "\x1b[2J", "--test", "2", stdout=io.StringIO())
    assert Study.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/duels/"])
def test_a_display_name_with_control_characters_is_refused_before_anything_is_made(fixture_map, url):
    form = {"display_name": "Ada\x1b[31m", "map": fixture_map.slug, "mode": "coordinates"}
    form["opponent"] = "centroid"
    response = Client().post(url, form)
    assert response.status_code == 400
    assert "display name contains an unprintable character (U+001B)" in response.content.decode()
    assert not Player.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, url, data",
    [
        ("post", "/", "display_name=Ada&map=%00&mode=coordinates"),  # a Map slug lookup
        ("post", "/duels/", "display_name=Ada\x00&map=x&opponent=centroid"),
        ("get", "/study/%00abc/", None),  # a <str:token> lookup
        ("get", "/duels/join/abc%00/", None),
        ("get", "/img/%00/0.jpg", None),
        ("get", "/duels/?map=%00", None),
        ("get", "/api/builds/?x=\x00", None),
    ],
)
def test_a_nul_in_a_path_query_or_form_is_a_400_on_every_database(method, url, data):
    """PostgreSQL fails on a NUL in a lookup's parameter (a 500 there, found by tests/test_fuzz.py)."""
    if method == "post":  # as a browser sends a form
        response = Client().post(url, data, content_type="application/x-www-form-urlencoded")
    else:
        response = Client().get(url)
    assert response.status_code == 400
    body = response.json()["error"] if url.startswith("/api/") else response.content.decode()
    assert ERR_NUL in body
    assert not Player.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_a_session_cookie_is_a_400():
    client = Client()
    client.cookies["sessionid"] = "abcdefgh\x00ijk"
    assert client.get("/duels/").status_code == 400


@pytest.mark.django_db
def test_a_map_name_is_bounded_and_printable(fixture_folder):
    from geogame.maps.importer import map_get_or_create

    for name, message in (("World\x00", "U+0000"), ("W" * 101, "longer than 100 characters")):
        with pytest.raises(ValueError, match=re.escape(message)):
            map_get_or_create(name=name)
    assert not Map.objects.exists()


@pytest.mark.django_db
def test_a_privacy_caption_with_nul_is_refused_and_nothing_is_kept():
    response = Client().post("/api/privacy/", {"caption": "Paris\x00", "keep": "1"})
    assert response.status_code == 400
    assert "the caption contains an unprintable character (U+0000)" in response.json()["error"]
    assert not PrivacyCheck.objects.exists()


# -- Logs --------------------------------------------------------------------------------------------

FORGED = "2026-01-01 INFO geogame.request: GET /admin/ 200"  # what an attacker's second line would say


@pytest.mark.django_db
def test_a_path_with_newlines_and_ansi_escapes_is_one_log_line_with_no_control_characters(settings):
    """The text format of settings.LOGGING, on every logger that writes during the request."""
    config = settings.LOGGING["formatters"]["text"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(import_string(config["class"])(config["format"]))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        response = Client().get(f"/nope%0a{FORGED}%1b[2J%1b[31m%e2%80%ae/")
    finally:
        root.removeHandler(handler)
    assert response.status_code == 404
    lines = stream.getvalue().splitlines()
    access = [line for line in lines if re.match(r"\S+ \S+ \w+ geogame\.request: ", line)]
    assert len(access) == 1, lines
    assert rf"/nope\n{FORGED}\x1b[2J\x1b[31m\u202e/ 404" in access[0]
    for line in lines:
        assert line.isprintable(), line


# -- The duel socket ---------------------------------------------------------------------------------


@pytest.fixture
def duel_socket(settings, fixture_map, transactional_db):
    """open() -> a coroutine giving a connected WebsocketCommunicator on the real ASGI application
    (in-memory channel layer), seated in a duel against a machine whose first round starts in an
    hour (nothing runs behind the test), its `state` already read."""
    settings.GEOGAME_DUEL_START_S = 3600
    consumers._address_buckets.clear()
    ada = Client()
    r = ada.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "centroid"})
    duel = re.search(r"/duels/([0-9a-f-]{36})/$", r["Location"])[1]
    cookie = f"{settings.SESSION_COOKIE_NAME}={ada.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def open_socket(path=f"/ws/duel/{duel}/"):
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        socket = WebsocketCommunicator(
            application,
            path,
            headers=[(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")],
        )
        connected, code = await socket.connect(timeout=10)
        if connected and path == f"/ws/duel/{duel}/":
            assert (await socket.receive_json_from(timeout=10))["type"] == "state"
        return socket, connected, code

    yield open_socket
    consumers._address_buckets.clear()


async def exchange(socket, message):
    if isinstance(message, bytes):
        await socket.send_to(bytes_data=message)
    else:
        await socket.send_to(text_data=message if isinstance(message, str) else json.dumps(message))
    return await socket.receive_json_from(timeout=10)


def test_a_huge_number_or_deep_nesting_in_a_duel_message_gets_an_error_and_the_socket_plays_on(duel_socket):
    async def run():
        socket, _, _ = await duel_socket()
        replies = [
            await exchange(socket, f'{{"type": "guess", "round": 0, "lat": {HUGE}, "lon": 0}}'),
            await exchange(socket, {"type": "guess", "round": 0, "lat": 10**300, "lon": 0}),
            await exchange(socket, '{"type": "guess", "round": 0, "lat": 1e400, "lon": 0}'),
            await exchange(socket, DEEP[:1999]),
            await exchange(socket, {"type": "guess", "round": 10**14, "lat": 1, "lon": 2}),
            await exchange(socket, {"type": "sync"}),
        ]
        await socket.disconnect()
        return replies

    replies = async_to_sync(run)()
    assert [(r["type"], r.get("reason")) for r in replies[:4]] == [
        ("error", duel_protocol.ERR_BIG_INT),
        ("error", duel_protocol.ERR_BIG_INT),
        ("error", duel_protocol.ERR_NOT_FINITE),
        ("error", duel_protocol.ERR_TOO_DEEP),
    ]
    assert replies[4]["type"] == "error" and "round" in replies[4]["reason"]
    assert replies[5]["type"] == "state"


def test_a_socket_to_an_unknown_path_is_closed_with_4404_not_a_500(duel_socket):
    async def run():
        outcomes = []
        for path in ("/ws/nope/", "/ws/duel/not-a-uuid/", "/"):
            socket, connected, _ = await duel_socket(path)
            assert connected  # accepted, then closed at once
            outcomes.append(await socket.receive_output(timeout=10))
            await socket.wait()
        return outcomes

    assert async_to_sync(run)() == [{"type": "websocket.close", "code": consumers.CLOSE_NOT_FOUND}] * 3


def test_a_socket_that_floods_is_told_rate_limited_then_closed_with_4429(duel_socket, settings):
    settings.GEOGAME_DUEL_MESSAGE_RATE = (3, 600)  # bursts of 3, then one every 200 s

    async def run():
        socket, _, _ = await duel_socket()
        replies = [await exchange(socket, {"type": "sync"}) for _ in range(3)]
        replies += [await exchange(socket, "garbage") for _ in range(3)]
        await socket.send_to(text_data='{"type": "sync"}')
        closed = await socket.receive_output(timeout=10)
        await socket.wait()
        return replies, closed

    replies, closed = async_to_sync(run)()
    assert [r["type"] for r in replies[:3]] == ["state"] * 3
    assert [(r["type"], r["reason"]) for r in replies[3:]] == [("error", duel_protocol.ERR_RATE_LIMITED)] * 3
    assert replies[3]["reason"].startswith("rate_limited")
    assert replies[3]["version"] == replies[0]["version"]  # said without asking the database
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_RATE_LIMITED}


def test_sockets_from_one_address_share_its_budget(duel_socket, settings, monkeypatch):
    settings.GEOGAME_DUEL_MESSAGE_RATE = (3, 600)
    monkeypatch.setattr(consumers, "ADDRESS_FACTOR", 1)  # the address may send what one socket may

    async def run():
        first, _, _ = await duel_socket()
        second, _, _ = await duel_socket()
        replies = [await exchange(first, {"type": "sync"}) for _ in range(3)]
        replies.append(await exchange(second, {"type": "sync"}))
        for socket in (first, second):
            await socket.disconnect()
        return replies

    replies = async_to_sync(run)()
    assert [r["type"] for r in replies] == ["state", "state", "state", "error"]
    assert replies[3]["reason"] == duel_protocol.ERR_RATE_LIMITED
