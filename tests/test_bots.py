"""The bot API in process: registration, tokens, the round offer, guesses and every bad input."""

import json
import math
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from geogame.bots import rules, services
from geogame.bots.models import Bot, BotPrediction
from geogame.challenges import services as challenge_services
from geogame.challenges.models import DailyAttempt
from geogame.game import machines
from geogame.game import services as game_services
from geogame.game.models import Game, Guess, Round
from players.models import Player

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot_and_token():
    return services.bot_create(name="alpha", description="always guesses the same place")


@pytest.fixture
def human(db):
    return Player.objects.create(display_name="Ada")


def game_against(bot, human, m, time_limit_s=None, mode=Game.COORDINATES):
    game = game_services.game_create(
        player=human, map=m, opponent=rules.NAME_PREFIX + bot.name, time_limit_s=time_limit_s, mode=mode
    )
    return game, game_services.round_next(game=game)


def api(token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client(**headers)


def next_round(token, wait="0"):
    return api(token).get("/api/bot/rounds/next", {"wait": wait})


def guess(token, round_id, body):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return api(token).post(f"/api/bot/rounds/{round_id}/guess", data, content_type="application/json")


def rewind(rnd, seconds):
    Round.objects.filter(id=rnd.id).update(
        started_at=rnd.started_at - timedelta(seconds=seconds),
        deadline=rnd.deadline - timedelta(seconds=seconds) if rnd.deadline else None,
    )


def test_a_bot_is_a_machine_player_the_game_lists_and_plays_against(bot_and_token, human, fixture_map):
    bot, token = bot_and_token
    assert token.startswith(rules.TOKEN_PREFIX) and bot.token_hash == rules.token_hash(token)
    assert token not in {bot.token_hash, bot.token_hint} and len(bot.token_hint) < len(token)
    assert "bot:alpha" in machines.names() and "centroid" in machines.names()
    assert machines.description("bot:alpha") == "always guesses the same place"
    assert machines.availability("bot:alpha", fixture_map) is None
    assert machines.machine_player_get("bot:alpha") == bot.player
    with pytest.raises(machines.UnknownPlayer):
        machines.availability("bot:nobody", fixture_map)

    game, rnd = game_against(bot, human, fixture_map)
    assert game.opponent == bot.player
    # No model task ran for it: the round waits for the bot's own answer.
    assert not Guess.objects.filter(player=bot.player).exists()

    offer = next_round(token)
    assert offer.status_code == 200
    body = offer.json()
    assert body["round"] == rnd.id and body["mode"] == "coordinates" and body["seconds_left"] > 0
    assert len(body["views"]) == rnd.location.views.count() and all(
        rnd.image_key in url for url in body["views"]
    )
    # Nothing in the offer names the place.
    text = json.dumps(body)
    loc = rnd.location
    assert loc.city not in text and loc.country not in text and f"{loc.lat}" not in text

    image = api(token).get(body["views"][0].removeprefix("http://testserver"))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert api().get(body["views"][0].removeprefix("http://testserver")).status_code == 404

    stored = guess(token, rnd.id, {"lat": loc.lat + 0.1, "lon": loc.lon})
    assert stored.status_code == 201 and stored.json()["created"] is True
    again = guess(token, rnd.id, {"lat": -10.0, "lon": 10.0})
    assert (
        again.status_code == 200 and again.json()["created"] is False and again.json()["lat"] == loc.lat + 0.1
    )
    g = Guess.objects.get(round=rnd, player=bot.player)
    assert g.lat == loc.lat + 0.1 and 0 < g.points <= 5000 and not g.timed_out
    # Answered: nothing more to offer.
    assert next_round(token).status_code == 204


def test_a_bot_plays_the_daily_over_the_api_like_the_other_machine_players(bot_and_token, daily_map):
    bot, token = bot_and_token
    daily = challenge_services.daily_get_or_create(m=daily_map)
    attempt = DailyAttempt.objects.get(daily=daily, player=bot.player)
    assert attempt.is_machine and attempt.game.location_order == daily.location_order
    offers = []
    for _ in range(len(daily.location_order)):
        offer = next_round(token)
        assert offer.status_code == 200
        offers.append(offer.json()["round"])
        assert guess(token, offers[-1], {"lat": 10.0, "lon": 20.0}).status_code in (200, 201)
    assert [Round.objects.get(id=i).game_id for i in offers] == [attempt.game_id] * len(offers)
    assert Guess.objects.filter(round__game=attempt.game, player=bot.player, timed_out=False).count() == len(
        daily.location_order
    )


def test_a_top_k_list_and_a_grid_are_stored_with_the_pin(bot_and_token, human, fixture_map):
    bot, token = bot_and_token
    _, rnd = game_against(bot, human, fixture_map)
    body = {
        "lat": 48.8,
        "lon": 2.3,
        "top_k": [{"lat": 48.8, "lon": 2.3, "p": 0.7}, {"lat": 51.5, "lon": -0.1, "p": 0.2}],
        "grid": {"rows": 2, "cols": 2, "p": [1, 3, 0, 0]},
    }
    assert guess(token, rnd.id, body).status_code == 201
    prediction = BotPrediction.objects.get(guess__round=rnd)
    assert prediction.top_k == [[48.8, 2.3, 0.7], [51.5, -0.1, 0.2]]
    assert prediction.grid == {"rows": 2, "cols": 2, "p": [0.25, 0.75, 0.0, 0.0]}


def test_a_city_round_offers_the_candidate_cities_and_takes_one(bot_and_token, human, fixture_map):
    bot, token = bot_and_token
    _, rnd = game_against(bot, human, fixture_map, mode=Game.CITY)
    offer = next_round(token).json()
    assert offer["mode"] == "city" and len(offer["cities"]) >= 2
    assert guess(token, rnd.id, {"city": "Atlantis"}).status_code == 400
    assert guess(token, rnd.id, {"city": offer["cities"][0]}).status_code == 201


BAD_BODIES = [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"lat": NaN, "lon": 0}', 400, "finite"),
    (b'{"lat": 91, "lon": 0}', 400, "outside [-90, 90]"),
    (b'{"lat": 0, "lon": -180.5}', 400, "outside [-180, 180]"),
    (b'{"lat": "48", "lon": 2}', 400, "numbers"),
    (b'{"lat": true, "lon": 2}', 400, "lat"),
    (b'{"lon": 2}', 400, "'lat' and 'lon'"),
    (b'{"lat": 1, "lon": 2, "top_k": [{"lat": 1, "lon": 2, "p": 2}]}', 400, "top_k"),
    (b'{"lat": 1, "lon": 2, "top_k": [{"lat": 100, "lon": 2, "p": 0.5}]}', 400, "top_k"),
    (b'{"lat": 1, "lon": 2, "grid": {"rows": 2, "cols": 2, "p": [1, 2]}}', 400, "grid"),
    (b'{"lat": 1, "lon": 2, "grid": {"rows": 1, "cols": 1, "p": [0]}}', 400, "grid"),
    (b'{"lat": 1, "lon": 2, "grid": {"rows": 1, "cols": 1, "p": [Infinity]}}', 400, "grid"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b"[" * 100 + b"]" * 100, 400, "nested"),
    (b'{"lat": 1, "lon": ' + b"9" * 40 + b"}", 400, "digits"),
]


@pytest.mark.parametrize(("body", "status", "says"), BAD_BODIES)
def test_a_bad_guess_body_gets_a_clear_error_and_stores_nothing(
    bot_and_token, human, fixture_map, body, status, says
):
    bot, token = bot_and_token
    _, rnd = game_against(bot, human, fixture_map)
    response = guess(token, rnd.id, body)
    assert response.status_code == status and says in response.json()["error"]
    assert not Guess.objects.filter(player=bot.player).exists()
    assert not BotPrediction.objects.exists()


def test_a_10_mb_body_is_refused_with_413_before_it_is_read(bot_and_token, human, fixture_map):
    bot, token = bot_and_token
    _, rnd = game_against(bot, human, fixture_map)
    body = b'{"lat": 1, "lon": 2, "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = guess(token, rnd.id, body)
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    assert not Guess.objects.filter(player=bot.player).exists()


def test_wrong_missing_and_revoked_tokens_are_refused_and_store_nothing(bot_and_token, human, fixture_map):
    bot, token = bot_and_token
    _, rnd = game_against(bot, human, fixture_map)
    for bad in (None, "ggb_" + "x" * 43, token + "x", "y" * 500):
        for response in (next_round(bad), guess(bad, rnd.id, {"lat": 1, "lon": 2})):
            assert response.status_code == 401 and "token" in response.json()["error"]
            assert response["WWW-Authenticate"].startswith("Bearer")
    services.bot_revoke(bot=bot)
    for response in (next_round(token), guess(token, rnd.id, {"lat": 1, "lon": 2})):
        assert response.status_code == 401 and response.json()["error"] == "this bot's token was revoked"
    assert not Guess.objects.filter(player=bot.player).exists()
    # Revoked, it is no longer offered as an opponent, nor may it fetch its round's images.
    assert "bot:alpha" not in machines.names()
    assert machines.availability("bot:alpha", fixture_map) == "its token was revoked"
    with pytest.raises(game_services.GameError, match="revoked"):
        game_against(bot, human, fixture_map)
    assert api(token).get(f"/img/{rnd.image_key}/0.jpg").status_code == 404


def test_a_guess_for_another_bots_round_or_no_round_is_404_and_stores_nothing(
    bot_and_token, human, fixture_map
):
    bot, token = bot_and_token
    other, other_token = services.bot_create(name="beta")
    _, rnd = game_against(bot, human, fixture_map)
    for round_id in (rnd.id, rnd.id + 1000):
        response = guess(other_token, round_id, {"lat": 1, "lon": 2})
        assert response.status_code == 404 and response.json()["error"] == "no such round for this bot"
    assert next_round(other_token).status_code == 204
    assert api(other_token).get(f"/img/{rnd.image_key}/0.jpg").status_code == 404
    assert not Guess.objects.exclude(player=human).exists()


def test_a_guess_after_the_deadline_is_refused_and_recorded_as_a_miss(
    bot_and_token, human, fixture_map, settings
):
    bot, token = bot_and_token
    _, rnd = game_against(bot, human, fixture_map, time_limit_s=30)
    assert next_round(token).json()["deadline"] == rnd.deadline.isoformat()  # the people's deadline
    rewind(rnd, 30 + settings.GEOGAME_DEADLINE_GRACE_S + 1)
    assert next_round(token).status_code == 204  # no longer offered
    response = guess(token, rnd.id, {"lat": 1, "lon": 2})
    assert response.status_code == 409 and "deadline has passed" in response.json()["error"]
    g = Guess.objects.get(player=bot.player)
    assert g.timed_out and g.points == 0 and g.lat is None


def test_a_round_without_a_timer_gives_the_bot_its_answer_time(bot_and_token, human, fixture_map, settings):
    bot, token = bot_and_token
    settings.GEOGAME_BOT_UNTIMED_ANSWER_S = 40
    _, rnd = game_against(bot, human, fixture_map)
    offer = next_round(token).json()
    assert offer["deadline"] == (rnd.started_at + timedelta(seconds=40)).isoformat()
    rewind(rnd, 41 + settings.GEOGAME_DEADLINE_GRACE_S)
    assert guess(token, rnd.id, {"lat": 1, "lon": 2}).status_code == 409


def test_misses_in_a_row_make_a_bot_unavailable_until_it_polls_again(
    bot_and_token, human, fixture_map, settings
):
    bot, token = bot_and_token
    settings.GEOGAME_BOT_MISSES_MAX = 2
    for n in range(2):
        game, rnd = game_against(bot, human, fixture_map, time_limit_s=10)
        rewind(rnd, 10 + settings.GEOGAME_DEADLINE_GRACE_S + 1)
        services.round_expire(round_id=rnd.id, player_id=bot.player_id)
        bot.refresh_from_db()
        assert (bot.unavailable_since is not None) == (n == 1)
    assert "missed 2 answer deadlines" in machines.availability("bot:alpha", fixture_map)
    with pytest.raises(game_services.GameError, match="missed 2"):
        game_against(bot, human, fixture_map)
    assert next_round(token).status_code == 204
    bot.refresh_from_db()
    assert bot.unavailable_since is None and machines.availability("bot:alpha", fixture_map) is None


def test_an_early_expiry_task_changes_nothing(bot_and_token, human, fixture_map):
    bot, _ = bot_and_token
    _, rnd = game_against(bot, human, fixture_map, time_limit_s=30)
    assert services.round_expire(round_id=rnd.id, player_id=bot.player_id) is None
    assert not Guess.objects.filter(player=bot.player).exists()


def test_the_token_and_the_address_are_rate_limited(bot_and_token, human, fixture_map, settings):
    bot, token = bot_and_token
    settings.GEOGAME_RATE_LIMITS = {**settings.GEOGAME_RATE_LIMITS, "bot": (2, 60)}
    assert next_round(token).status_code == 204
    assert next_round(token).status_code == 204
    over = next_round(token)
    assert over.status_code == 429 and int(over["Retry-After"]) >= 1
    settings.GEOGAME_RATE_LIMITS = {**settings.GEOGAME_RATE_LIMITS, "bot_address": (3, 60)}
    for _ in range(5):
        response = next_round("wrong-token")
    assert response.status_code == 429  # guessing tokens counts against the address


@pytest.mark.parametrize("wait", ["-1", "nan", "abc", "-inf"])
def test_a_bad_wait_is_refused(bot_and_token, wait):
    _, token = bot_and_token
    response = next_round(token, wait=wait)
    assert response.status_code == 400 and "'wait'" in response.json()["error"]


def test_the_api_refuses_other_methods(bot_and_token):
    _, token = bot_and_token
    assert api(token).post("/api/bot/rounds/next").status_code == 405
    assert api(token).get("/api/bot/rounds/1/guess").status_code == 405


def test_bot_create_prints_the_token_once_and_refuses_bad_names(capsys):
    call_command("bot_create", "gamma", "--description", "a lab's model")
    token = capsys.readouterr().out.strip()
    bot = Bot.objects.get(name="gamma")
    assert bot.token_hash == rules.token_hash(token) and bot.player.machine_name == "bot:gamma"
    for bad in ("gamma", "Gamma", "x", "has space", "a" * 40, "-lead"):
        with pytest.raises(CommandError) as err:
            call_command("bot_create", bad)
        assert "\n" not in str(err.value)
    assert Bot.objects.count() == 1
    call_command("bot_revoke", "gamma")
    assert Bot.objects.get(name="gamma").revoked_at is not None
    with pytest.raises(CommandError, match="no bot named"):
        call_command("bot_revoke", "nobody")


def test_staff_register_a_bot_see_its_token_once_and_revoke_it(staff_client):
    assert Client().get("/staff/bots/").status_code == 302  # to the log-in page
    page = staff_client.post("/staff/bots/", {"name": "delta", "description": "<b>bold</b>"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    text = page.content.decode()
    token = text.split('<code id="token">')[1].split("</code>")[0]
    assert rules.token_hash(token) == Bot.objects.get(name="delta").token_hash
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    listing = staff_client.get("/staff/bots/").content.decode()
    assert "bot:delta" in listing and token not in listing
    bad = staff_client.post("/staff/bots/", {"name": "delta"})
    assert bad.status_code == 400 and "exists already" in bad.content.decode()
    assert staff_client.post("/staff/bots/delta/revoke").status_code == 302
    assert Bot.objects.get(name="delta").revoked_at is not None
    assert staff_client.post("/staff/bots/nobody/revoke").status_code == 404


def test_rules_are_plain_functions():
    assert rules.misses_in_a_row([True, True, False, True]) == 2
    assert rules.misses_in_a_row([]) == 0
    with pytest.raises(ValueError):
        rules.check_grid({"rows": 200, "cols": 1, "p": [1] * 200})
    assert rules.check_top_k(None) is None
    assert math.isclose(sum(rules.check_grid({"rows": 1, "cols": 3, "p": [1, 1, 2]})["p"]), 1.0)


class FakeWebhook:
    """A real HTTP server on loopback that answers the first `failures` calls with 500."""

    def __init__(self, failures=0):
        import http.server
        import threading

        calls = self.calls = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append((dict(self.headers), body))
                self.send_response(500 if len(calls) <= failures else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_gets_each_round_signed_and_retried_after_a_failure(human, fixture_map, settings):
    import hashlib
    import hmac

    from geogame.bots import webhooks

    hook = FakeWebhook(failures=1)
    try:
        bot, token = services.bot_create(name="hooked", webhook_url=hook.url)
        settings.GEOGAME_PUBLIC_URL = "https://game.example"
        _, rnd = game_against(bot, human, fixture_map, time_limit_s=30)
        waits = []
        assert webhooks.deliver(round_id=rnd.id, player_id=bot.player_id, sleep=waits.append) == "delivered"
        assert len(hook.calls) == 2 and waits == [1]
        headers, body = hook.calls[-1]
        key = hashlib.sha256(token.encode()).hexdigest().encode()
        assert headers["X-Geogame-Signature"] == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert headers["X-Geogame-Attempt"] == "2"
        offer = json.loads(body)
        assert (
            offer["round"] == rnd.id
            and offer["guess_url"] == f"https://game.example/api/bot/rounds/{rnd.id}/guess"
        )
        assert rnd.location.city not in body.decode()
        # Answered: nothing more is sent.
        assert guess(token, rnd.id, {"lat": 1, "lon": 2}).status_code == 201
        assert (
            webhooks.deliver(round_id=rnd.id, player_id=bot.player_id, sleep=waits.append)
            == "answered or due"
        )
        assert len(hook.calls) == 2
    finally:
        hook.close()


def test_a_webhook_that_never_answers_is_tried_a_bounded_number_of_times(human, fixture_map, settings):
    from geogame.bots import webhooks

    hook = FakeWebhook(failures=99)
    try:
        bot, _ = services.bot_create(name="down", webhook_url=hook.url)
        _, rnd = game_against(bot, human, fixture_map, time_limit_s=30)
        waits = []
        assert webhooks.deliver(round_id=rnd.id, player_id=bot.player_id, sleep=waits.append) == "failed"
        assert len(hook.calls) == settings.GEOGAME_BOT_WEBHOOK_ATTEMPTS == 3 and waits == [1, 2]
    finally:
        hook.close()


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "not a url", "javascript:alert(1)", "http://" + "a" * 300]
)
def test_a_bad_webhook_url_is_refused_and_no_bot_is_made(url):
    with pytest.raises(services.BotError, match="webhook URL"):
        services.bot_create(name="badhook", webhook_url=url)
    assert (
        not Bot.objects.exists()
        and not Player.objects.filter(kind="machine", machine_name="bot:badhook").exists()
    )
