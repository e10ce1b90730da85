"""Rate limits (geogame/common/ratelimit.py): 429 with a JSON error and Retry-After over the limit, a
budget per client, only unsafe methods counted, "off" for none, requests let through when the
cache fails. Across daphne processes (Redis cache): tests/test_stack.py."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client, RequestFactory

from config.settings import env_rate
from geogame.common.ratelimit import hit, rate_limited
from geogame.duels import protocol as duel_protocol

PERIOD_S = 600


def limit(settings, scope, count, period_s=PERIOD_S):
    settings.GEOGAME_RATE_LIMITS = {**settings.GEOGAME_RATE_LIMITS, scope: (count, period_s)}


def start_game(client, m):
    r = client.post("/", {"display_name": "Ada", "map": m.slug, "mode": "coordinates"})
    assert r.status_code == 302, r.content
    game = re.search(r"/play/([0-9a-f-]{36})/$", r["Location"])[1]
    client.get(f"/api/games/{game}/")  # round 0 starts
    return game


def guess(client, game, index=0, **body):
    return client.post(f"/api/games/{game}/rounds/{index}/guess/", body, content_type="application/json")


@pytest.mark.django_db
def test_guesses_over_the_limit_get_429_with_retry_after_and_other_players_are_not_affected(
    settings, fixture_map
):
    limit(settings, "guess", 3)
    ada = Client()
    game = start_game(ada, fixture_map)
    assert guess(ada, game, lat=10.0, lon=10.0).status_code == 201
    assert guess(ada, game, lat=10.0, lon=10.0).status_code == 200  # the first result again
    assert guess(ada, game, index=7, lat=10.0, lon=10.0).status_code == 404
    assert ada.get(f"/api/games/{game}/rounds/0/guess/").status_code == 405  # not counted

    refused = guess(ada, game, lat=10.0, lon=10.0)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= PERIOD_S
    assert refused.json() == {
        "error": f"too many requests: at most 3 every {PERIOD_S} s; try again in {retry_after} s",
        "retry_after": retry_after,
    }

    # Another browser from the same address has a budget of its own.
    bo = Client()
    bo_game = start_game(bo, fixture_map)
    assert guess(bo, bo_game, lat=1.0, lon=1.0).status_code == 201


@pytest.mark.django_db
def test_a_limit_set_off_never_refuses(settings, fixture_map):
    limit(settings, "guess", 0, 1)
    ada = Client()
    game = start_game(ada, fixture_map)
    statuses = {guess(ada, game, index=9, lat=1.0, lon=1.0).status_code for _ in range(8)}
    assert statuses == {404}


def test_the_decorator_counts_each_address_and_only_unsafe_methods(settings):
    limit(settings, "upload", 2)
    calls = []

    @rate_limited("upload")
    def upload(request):
        calls.append(request.method)
        return HttpResponse("stored")

    rf = RequestFactory()
    for _ in range(5):
        assert upload(rf.get("/upload/", REMOTE_ADDR="10.0.0.1")).status_code == 200
    answers = [upload(rf.post("/upload/", REMOTE_ADDR="10.0.0.1")).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert upload(rf.post("/upload/", REMOTE_ADDR="10.0.0.2")).status_code == 200
    assert calls == ["GET"] * 5 + ["POST"] * 3  # the refused request never reached the view


def test_an_unknown_scope_is_a_programming_error():
    with pytest.raises(KeyError, match="no rate limit named 'uploads'"):
        hit("uploads", "ip:10.0.0.1")


def test_requests_pass_when_the_cache_fails(settings, caplog):
    """Redis down (nothing listens on port 1): the game goes on, unlimited, and it is logged."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    limit(settings, "guess", 1)
    decisions = [hit("guess", "ip:10.0.0.1") for _ in range(3)]
    assert all(d.allowed for d in decisions)
    assert "rate limit guess not applied: the cache failed" in caplog.text


@pytest.mark.parametrize(
    "raw, expected",
    [("10/60", (10, 60)), ("off", (0, 1)), ("OFF", (0, 1)), ("0/60", (0, 60)), (None, (5, 30))],
)
def test_limits_are_read_from_the_environment(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("GEOGAME_RATE_LIMIT_TEST", raising=False)
    else:
        monkeypatch.setenv("GEOGAME_RATE_LIMIT_TEST", raw)
    assert env_rate("GEOGAME_RATE_LIMIT_TEST", "5/30") == expected


@pytest.mark.parametrize("raw", ["10", "ten/60", "10/0", "-1/60", "10/60/2"])
def test_a_bad_limit_in_the_environment_is_refused_with_its_name(monkeypatch, raw):
    monkeypatch.setenv("GEOGAME_RATE_LIMIT_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match=r"GEOGAME_RATE_LIMIT_TEST must be N/S"):
        env_rate("GEOGAME_RATE_LIMIT_TEST", "5/30")


@pytest.mark.django_db(transaction=True)
def test_guesses_over_a_duel_socket_count_against_the_same_limit(settings, fixture_map):
    limit(settings, "guess", 2)
    settings.GEOGAME_DUEL_START_S = PERIOD_S  # no round starts: nothing runs behind the test
    ada = Client()
    r = ada.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "centroid"})
    duel = re.search(r"/duels/([0-9a-f-]{36})/$", r["Location"])[1]
    cookie = f"{settings.SESSION_COOKIE_NAME}={ada.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def three_guesses():
        from channels.testing import WebsocketCommunicator

        from config.asgi import application

        socket = WebsocketCommunicator(
            application,
            f"/ws/duel/{duel}/",
            headers=[(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")],
        )
        connected, _ = await socket.connect(timeout=10)
        assert connected
        assert (await socket.receive_json_from(timeout=10))["type"] == "state"
        replies = []
        for _ in range(3):
            await socket.send_json_to({"type": "guess", "round": 0, "lat": 1.0, "lon": 1.0})
            while True:
                msg = await socket.receive_json_from(timeout=10)
                if msg["type"] in ("error", "guess_ack"):
                    replies.append(msg)
                    break
        await socket.disconnect()
        return replies

    replies = async_to_sync(three_guesses)()
    too_many = re.compile(re.escape(duel_protocol.ERR_TOO_MANY).replace(r"\{seconds\}", r"\d+"))
    assert [bool(too_many.fullmatch(r.get("reason", ""))) for r in replies] == [False, False, True], replies


def new_game(client, m, **extra):
    return client.post("/", {"display_name": "Ada", "map": m.slug, "mode": "coordinates"}, **extra)


def new_duel(client, m, **extra):
    return client.post("/duels/", {"display_name": "Ada", "map": m.slug, "opponent": "centroid"}, **extra)


@pytest.mark.parametrize("create, scope, what", [(new_game, "game", "games"), (new_duel, "duel", "duels")])
@pytest.mark.django_db
def test_creations_from_one_address_are_refused_past_the_limit_however_many_fresh_sessions(
    settings, fixture_map, create, scope, what
):
    limit(settings, scope, 3)
    # A new cookie jar for every request: new sessions are free, the address is not.
    assert [create(Client(), fixture_map).status_code for _ in range(3)] == [302] * 3
    refused = create(Client(), fixture_map)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= PERIOD_S
    message = f"too many new {what} from this address or browser: at most 3 every {PERIOD_S} s"
    assert message in refused.content.decode()
    assert create(Client(), fixture_map, REMOTE_ADDR="10.0.0.2").status_code == 302  # another address


@pytest.mark.parametrize("create, scope", [(new_game, "game"), (new_duel, "duel")])
@pytest.mark.django_db
def test_one_browser_is_limited_on_its_own_below_its_address_budget(settings, fixture_map, create, scope):
    limit(settings, scope, 100)
    limit(settings, f"{scope}_session", 2)
    ada, bo = Client(), Client()
    # The first creation had no session yet: only the next two count against the browser.
    assert [create(ada, fixture_map).status_code for _ in range(3)] == [302, 302, 302]
    assert create(ada, fixture_map).status_code == 429
    assert create(bo, fixture_map).status_code == 302  # another browser behind the same address
