"""Property-based fuzzing (hypothesis) of every JSON endpoint and of the duel protocol (issue 20):
whatever a client sends, no answer is a 500 and no duel socket is closed with 1011.

The inputs: arbitrary JSON (huge integers, NaN and Infinity tokens, deep nesting, unicode, every
type where another is expected), objects shaped like the real requests with such values in
their fields, and bytes that are not JSON or not UTF-8. The examples are few and derandomized,
so a run is quick and the same each time; the failures hypothesis finds are printed as the
smallest input that fails. The hand-picked cases behind these properties: tests/test_bad_input.py.
"""

import json
import re
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from geogame.duels import consumers
from geogame.game.models import Guess
from geogame.studies import services as study_services
from geogame.studies.models import Participant

FUZZ = fuzz_settings(
    max_examples=40,
    deadline=None,  # a busy machine is slow, not wrong
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- What clients may send ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**450), max_value=10**450),  # past what a float holds
    st.floats(),  # NaN and Infinity too: json.dumps writes them as tokens
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
coordinates = st.one_of(json_values, st.floats(-90, 90), st.floats(-180, 180), st.integers(-200, 200))


def shaped(**fields):
    """JSON objects with some of these fields (each drawn from its strategy) and maybe others."""
    return st.builds(
        lambda known, other: {**other, **known},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(st.text(max_size=6), json_values, max_size=2),
    )


guess_objects = shaped(
    lat=coordinates,
    lon=coordinates,
    city=st.one_of(json_values, st.sampled_from(["Stuttgart, Germany", "Singapore, Singapore", ""])),
    views_seen=st.one_of(json_values, st.lists(st.integers(-2, 40), max_size=40)),
    view_ms=st.one_of(json_values, st.lists(st.integers(-1, 10**9), max_size=5)),
    screen=st.one_of(json_values, shaped(w=json_values, h=json_values)),
    phase=st.one_of(json_values, st.sampled_from(["practice", "test"])),
)
# Sizes on both sides of the limits that broke: json.loads recursed past ~1000 levels, Python's
# int() stops at 4300 digits, a float at about 309.
depths = st.one_of(st.integers(1, 40), st.integers(990, 4000))
digits = st.one_of(
    st.integers(14, 20), st.integers(300, 400), st.integers(4290, 4400), st.integers(5000, 9000)
)
tricky_texts = st.one_of(
    depths.map(lambda n: "[" * n),
    depths.map(lambda n: "[" * n + "]" * n),
    depths.map(lambda n: '{"a":' * n + "1" + "}" * n),
    digits.map(lambda n: '{"type": "guess", "round": 0, "lat": ' + "9" * n + ', "lon": 0}'),
    digits.map(lambda n: '{"type": "guess", "round": 0, "lat": 0, "lon": -' + "9" * n + f".5e{n}}}"),
    st.sampled_from(
        [
            "",
            "null",
            "NaN",
            "-Infinity",
            '{"lat": NaN, "lon": Infinity}',
            '{"lat": 1e999, "lon": -1e999}',
            '{"city": "\\ud800", "phase": "\\u0000"}',
            "\ufeff{}",
            '{"lat": 1, "lat": 2, "lon": 3}',
        ]
    ),
)


def as_json(value):
    return json.dumps(value)


bodies = st.one_of(
    guess_objects.map(as_json),
    json_values.map(as_json),
    tricky_texts,
    st.text(max_size=200),
    st.binary(max_size=200),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
indices = st.one_of(st.integers(0, 6), st.integers(0, 10**30))  # <int:index> takes any digits


@pytest.fixture
def no_limits(settings):
    """Rate limits off: every example must reach the code under test, not a 429."""
    settings.GEOGAME_RATE_LIMITS = {scope: (0, 1) for scope in settings.GEOGAME_RATE_LIMITS}
    settings.GEOGAME_DUEL_MESSAGE_RATE = (0, 1)


def not_a_server_error(response, what):
    # Django's test client raises a view's exception itself; a handled one must not be a 5xx either.
    assert response.status_code < 500, (what, response.status_code, response.content[:300])


# -- HTTP: the game, the study, the privacy check and the JSON the staff pages poll -----------------


@pytest.fixture
def game_urls(fixture_map, no_limits):
    from tests.test_game_api import start_game, state

    client = Client()
    game = start_game(client, fixture_map)
    st_ = state(client, game)
    return client, game, st_["round"]["guess_url"], st_["next_url"], f"/api/games/{game.public_id}/"


@FUZZ
@given(
    body=bodies, content_type=content_types, index=indices, target=st.sampled_from(["guess", "any", "next"])
)
def test_no_body_sent_to_the_game_api_gives_a_500(game_urls, body, content_type, index, target):
    client, game, guess_url, next_url, state_url = game_urls
    url = {
        "guess": guess_url,
        "any": f"/api/games/{game.public_id}/rounds/{index}/guess/",
        "next": next_url,
    }[target]
    not_a_server_error(client.post(url, body, content_type=content_type), (url, body))
    Guess.objects.filter(round__game=game).delete()  # so that the next example's guess is checked again
    not_a_server_error(client.get(state_url), state_url)


@pytest.fixture
def study_urls(study_map, no_limits):
    study = study_services.study_create(
        map=study_map, name="Fuzz", consent_text="Ok", practice_count=2, test_count=3, seed=1
    )
    client = Client()
    response = client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes"})
    assert response.status_code == 302
    participant = Participant.objects.get()
    public_id = participant.resume_token  # what the participant's addresses hold
    return client, participant, public_id


@FUZZ
@given(body=bodies, content_type=content_types, index=indices, target=st.sampled_from(["guess", "next"]))
def test_no_body_sent_to_the_study_api_gives_a_500(study_urls, body, content_type, index, target):
    client, participant, public_id = study_urls
    if target == "guess":
        url = reverse("api-study-guess", args=[public_id, index])
    else:
        url = reverse("api-study-next", args=[public_id])
    not_a_server_error(client.post(url, body, content_type=content_type), (url, body))
    Guess.objects.filter(round__game=participant.game).delete()
    not_a_server_error(client.get(reverse("api-study-state", args=[public_id])), "study state")


form_text = st.one_of(st.text(max_size=60), st.sampled_from(["1", "true", "on", "fixture-world", "\x00"]))
upload_names = st.sampled_from(["image", "view0", "view1", "view9", "photo", "image[]"])


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(["caption", "map", "keep", "other"]), form_text, max_size=4),
    files=st.dictionaries(upload_names, st.binary(max_size=120), max_size=3),
    raw=st.one_of(st.none(), bodies),
    raw_type=st.sampled_from(
        ["application/json", "multipart/form-data; boundary=x", "multipart/form-data", "text/plain"]
    ),
)
def test_no_form_or_body_sent_to_the_privacy_api_gives_a_500(
    fixture_map, no_limits, fields, files, raw, raw_type
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    if raw is None:
        uploads = {name: SimpleUploadedFile(f"{name}.jpg", content) for name, content in files.items()}
        data = {**fields, **uploads}
        response = client.post("/api/privacy/", data)
    else:
        response = client.post("/api/privacy/", raw, content_type=raw_type)
    not_a_server_error(response, (fields, files, raw))
    assert "error" in response.json() or response.status_code == 200


@pytest.fixture
def staff(db):
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("staff", is_staff=True))
    return client


@FUZZ
@given(
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=3),
    slug=st.one_of(st.just("fixture-world"), st.from_regex(r"[-a-zA-Z0-9_]{1,40}", fullmatch=True)),
    which=st.sampled_from(["builds", "players", "game", "healthz"]),
)
def test_no_query_to_a_json_endpoint_that_is_read_gives_a_500(game_urls, staff, query, slug, which):
    client, game, *_ = game_urls
    if which == "builds":
        response = staff.get("/api/builds/", query)
    elif which == "players":
        response = staff.get(f"/api/maps/{slug}/players/", query)
    elif which == "game":
        public_id = game.public_id if slug == "fixture-world" else uuid.uuid4()  # someone else's, or none
        response = client.get(f"/api/games/{public_id}/", query)
    else:
        response = client.get("/healthz", query, headers={"X-Health-Token": slug})
    not_a_server_error(response, (which, query, slug))


# -- The duel protocol, through the real consumer on the real ASGI application ----------------------

duel_messages = st.one_of(
    shaped(
        type=st.one_of(st.sampled_from(["guess", "sync", "Guess", "resign", ""]), json_values),
        round=st.one_of(json_values, st.integers(-1, 3)),
        lat=coordinates,
        lon=coordinates,
        views_seen=st.one_of(json_values, st.lists(st.integers(-1, 40), max_size=40)),
        duel=st.one_of(json_values, st.uuids().map(str)),
        version=json_values,
    ).map(as_json),
    json_values.map(as_json),
    tricky_texts,
    st.text(max_size=100),
    st.text(min_size=2001, max_size=2100),  # over the protocol's bound
    st.binary(max_size=50),
)


@pytest.fixture
def duel_path(settings, fixture_map, transactional_db, no_limits):
    """A duel against a machine whose first round starts in an hour (nothing runs behind the
    test), and the cookie of its human seat."""
    settings.GEOGAME_DUEL_START_S = 3600
    consumers._address_buckets.clear()
    ada = Client()
    r = ada.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "centroid"})
    duel = re.search(r"/duels/([0-9a-f-]{36})/$", r["Location"])[1]
    cookie = f"{settings.SESSION_COOKIE_NAME}={ada.cookies[settings.SESSION_COOKIE_NAME].value}"
    return f"/ws/duel/{duel}/", cookie


@fuzz_settings(FUZZ, max_examples=25)
@given(messages=st.lists(duel_messages, min_size=1, max_size=8))
def test_no_message_closes_a_duel_socket_and_sync_works_after_any(duel_path, messages):
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    path, cookie = duel_path

    async def run():
        socket = WebsocketCommunicator(
            application,
            path,
            headers=[(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")],
        )
        connected, _ = await socket.connect(timeout=10)
        assert connected
        assert (await socket.receive_json_from(timeout=10))["type"] == "state"
        for message in messages:
            # As daphne hands frames over (send_to refuses an empty one, which a client may send).
            key = "bytes" if isinstance(message, bytes) else "text"
            await socket.send_input({"type": "websocket.receive", key: message})
        # One reply a message (a guess answers from a task of its own, so maybe out of order). A
        # close or an exception in the consumer (1011 under daphne) fails receive_json_from.
        replies = [await socket.receive_json_from(timeout=10) for _ in messages]
        await socket.send_json_to({"type": "sync"})
        after = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return replies, after

    replies, after = async_to_sync(run)()
    for reply in replies:
        assert reply["type"] in ("error", "state", "guess_ack"), reply
        if reply["type"] == "error":
            assert isinstance(reply["reason"], str) and reply["reason"], reply
    assert after["type"] == "state"
