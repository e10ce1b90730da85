"""Accounts (geogame/accounts): sign-up, log-in, log-out, password reset, the move of a browser's
anonymous games into its account, /me/ and the replay; bad input on each."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from geogame.accounts import services
from geogame.game.models import Game, Guess
from players.models import Player
from players.names import check_account_name

pytestmark = pytest.mark.django_db


def start_game(client, m, name="Ada", mode="coordinates", time_limit=""):
    r = client.post("/", {"display_name": name, "map": m.slug, "mode": mode, "time_limit": time_limit})
    assert r.status_code == 302, r.content
    return Game.objects.get(public_id=r["Location"].split("/")[2])


def play_rounds(client, game, rounds=5, lat=10.0, lon=20.0):
    for _ in range(rounds):
        s = client.get(f"/api/games/{game.public_id}/").json()
        if s["finished"]:
            break
        r = client.post(
            s["round"]["guess_url"], json.dumps({"lat": lat, "lon": lon}), content_type="application/json"
        )
        assert r.status_code == 201, r.content
        client.post(s["next_url"])


def signup(client, username="ada", name="Ada L", password="correct horse 9", email="ada@example.org"):
    return client.post(
        "/accounts/signup/",
        {
            "username": username,
            "display_name": name,
            "email": email,
            "password": password,
            "password_again": password,
        },
    )


def test_games_played_anonymously_move_into_the_account_made_in_that_browser(fixture_map):
    client = Client()
    game = start_game(client, fixture_map)
    play_rounds(client, game)
    anon_id = game.player_id
    r = signup(client)
    assert r.status_code == 302 and r["Location"] == "/me/"
    user = get_user_model().objects.get(username="ada")
    assert Player.objects.get(id=anon_id).user == user  # the same player: its games came along
    page = client.get("/me/").content.decode()
    assert str(game.public_id) in page and "Ada L" in page
    # Log out: a fresh anonymous browser sees none of it.
    client.post("/accounts/logout/")
    assert str(game.public_id) not in client.get("/me/").content.decode()


def test_logging_in_moves_the_browsers_anonymous_games_into_the_existing_account(fixture_map):
    first = Client()
    signup(first)
    own = start_game(first, fixture_map)
    play_rounds(first, own, rounds=2)
    account_player = Player.objects.get(user__username="ada")
    other = Client()
    anon_game = start_game(other, fixture_map, name="Someone")
    play_rounds(other, anon_game)
    anon = anon_game.player
    r = other.post("/accounts/login/", {"username": "ada", "password": "correct horse 9"})
    assert r.status_code == 302
    anon_game.refresh_from_db()
    assert anon_game.player == account_player
    assert set(Guess.objects.filter(round__game=anon_game).values_list("player_id", flat=True)) == {
        account_player.id
    }
    assert not Game.objects.filter(player=anon).exists()
    page = other.get("/me/").content.decode()
    assert str(anon_game.public_id) in page and str(own.public_id) in page


def test_me_lists_map_mode_opponent_total_and_date(fixture_map):
    client = Client()
    signup(client)
    game = start_game(client, fixture_map)
    play_rounds(client, game)
    total = sum(Guess.objects.filter(round__game=game, player=game.player).values_list("points", flat=True))
    page = client.get("/me/").content.decode()
    pattern = rf'<tr class="history-row" data-game="{game.public_id}">(.*?)</tr>'
    row = re.search(pattern, page, re.S).group(1)
    assert fixture_map.name in row and "Pin on the map" in row and "none" in row
    assert (
        f'history-total">{total:,}<' in row and game.created_at.strftime("%Y-%m-%d") in row and "5 / 5" in row
    )


def test_a_replay_shows_the_answer_only_for_finished_rounds(fixture_map):
    client = Client()
    game = start_game(client, fixture_map)
    play_rounds(client, game, rounds=2)
    client.get(f"/api/games/{game.public_id}/")  # round 3 started, not guessed
    r = client.get(f"/me/games/{game.public_id}/")
    assert r.status_code == 200
    data = json.loads(
        re.search(
            r'<script id="replay-data" type="application/json">(.*?)</script>', r.content.decode(), re.S
        ).group(1)
    )
    assert [d["answer"] is not None for d in data] == [True, True, False]
    third = game.rounds.get(index=2).location
    assert third.city not in json.dumps(data[2]) and str(third.lat) not in r.content.decode()
    assert data[0]["pin"] == {"lat": 10.0, "lon": 20.0, "city": None}
    # the photos are this player's own round images
    first_key = game.rounds.get(index=0).image_key
    assert f"/img/{first_key}/0.jpg" in r.content.decode()
    assert client.get(f"/img/{first_key}/0.jpg").status_code == 200


def test_another_users_history_and_replay_are_404(fixture_map):
    owner = Client()
    signup(owner)
    game = start_game(owner, fixture_map)
    play_rounds(owner, game)
    stranger = Client()
    signup(stranger, username="bob", name="Bob B", email="bob@example.org")
    r = stranger.get(f"/me/games/{game.public_id}/")
    assert r.status_code == 404
    assert str(game.public_id) not in stranger.get("/me/").content.decode()
    assert Client().get(f"/me/games/{game.public_id}/").status_code == 404


@pytest.mark.parametrize(
    "name, message",
    [
        ("<b>Ada</b>", "is not allowed"),
        ("<script>alert(1)</script>", "3 to 24 characters"),
        ("x" * 25, "3 to 24 characters"),
        ("ab", "3 to 24 characters"),
        ("Ada\u202eL", "is not allowed"),
    ],
)
def test_bad_display_names_are_refused_and_nothing_is_made(name, message, db):
    client = Client()
    r = signup(client, name=name)
    assert r.status_code == 400 and message in r.content.decode()
    assert not get_user_model().objects.exists() and not Player.objects.filter(user__isnull=False).exists()


def test_display_names_are_unique_among_accounts_case_insensitively(db):
    assert signup(Client()).status_code == 302
    r = signup(Client(), username="ada2", name="ada l", email="x@example.org")
    assert r.status_code == 400 and "taken" in r.content.decode()
    assert get_user_model().objects.count() == 1
    # changing one's own name to a taken one is refused too
    bob = Client()
    signup(bob, username="bob", name="Bob B", email="b@example.org")
    r = bob.post("/me/", {"display_name": "ADA L"})
    assert r.status_code == 400 and Player.objects.get(user__username="bob").display_name == "Bob B"
    assert bob.post("/me/", {"display_name": "Bobby"}).status_code == 302
    assert Player.objects.get(user__username="bob").display_name == "Bobby"


def test_names_are_escaped_where_shown(fixture_map):
    # Old rows (or an admin's edit) may hold markup; every page escapes it.
    client = Client()
    signup(client)
    Player.objects.filter(user__username="ada").update(display_name="<b>x</b>")
    page = client.get("/me/").content.decode()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_account_name_rule_is_a_plain_function():
    assert check_account_name("  José  da   Silva ") == "José da Silva"
    assert check_account_name("o'neil_3-x.") == "o'neil_3-x."
    for bad in ["a", "<i>", "a" * 25, "tab\there?", "emoji 🙂"]:
        with pytest.raises(ValueError):
            check_account_name(bad)


def test_bad_sign_ups_say_why(db):
    assert (
        "differ"
        in Client()
        .post(
            "/accounts/signup/",
            {
                "username": "ada",
                "display_name": "Ada L",
                "email": "a@b.c",
                "password": "correct horse 9",
                "password_again": "other horse 9",
            },
        )
        .content.decode()
    )
    assert "too short" in signup(Client(), password="short").content.decode()
    assert "e-mail" in signup(Client(), email="nope").content.decode()
    assert "username" in signup(Client(), username="a b<").content.decode()
    assert signup(Client()).status_code == 302
    r = signup(Client(), name="Other Name", email="o@example.org")
    assert r.status_code == 400 and "username is taken" in r.content.decode()
    assert get_user_model().objects.count() == 1


def test_password_reset_by_email_on_the_console_backend(db):
    import config.settings as configured  # the test runner swaps in the locmem backend; the default:

    assert configured.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
    signup(Client())
    client = Client()
    r = client.post("/accounts/password-reset/", {"email": "ada@example.org"})
    assert r.status_code == 302 and len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    r = client.get(link)
    assert r.status_code == 302  # Django swaps the token for a session-held one
    r = client.post(
        r["Location"], {"new_password1": "brand new horse 7", "new_password2": "brand new horse 7"}
    )
    assert r.status_code == 302
    assert (
        Client().post("/accounts/login/", {"username": "ada", "password": "brand new horse 7"}).status_code
        == 302
    )
    assert client.get(link).status_code == 200 and "not valid" in client.get(link).content.decode()


def test_sign_up_and_log_in_are_rate_limited(db, settings):
    settings.GEOGAME_RATE_LIMITS = {
        **settings.GEOGAME_RATE_LIMITS,
        "signup": (2, 600),
        "signup_session": (9, 600),
        "login": (3, 600),
    }
    for i in range(2):
        assert (
            signup(Client(), username=f"u{i}x", name=f"User {i}", email=f"{i}@example.org").status_code == 302
        )
    r = signup(Client(), username="u9x", name="User 9", email="9@example.org")
    assert (
        r.status_code == 429
        and "Retry-After" in r
        and not get_user_model().objects.filter(username="u9x").exists()
    )
    for _ in range(3):
        assert Client().post("/accounts/login/", {"username": "nobody", "password": "x"}).status_code == 200
    assert Client().post("/accounts/login/", {"username": "nobody", "password": "x"}).status_code == 429


def test_account_service_refuses_a_taken_name_without_touching_the_player(db):
    services.account_create(
        username="ada",
        email="a@example.org",
        password="correct horse 9",
        password_again="correct horse 9",
        display_name="Ada L",
    )
    anon = Player.objects.create(display_name="anon")
    with pytest.raises(services.AccountError):
        services.account_create(
            username="bob",
            email="b@example.org",
            password="correct horse 9",
            password_again="correct horse 9",
            display_name="ADA L",
            session_player=anon,
        )
    anon.refresh_from_db()
    assert anon.user_id is None and anon.display_name == "anon"


def test_an_account_made_elsewhere_gets_a_player_even_when_its_username_is_anothers_name(db):
    signup(Client(), username="ada", name="root")
    get_user_model().objects.create_superuser("root", "root@example.org", "correct horse 9")
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": "root", "password": "correct horse 9"}).status_code
        == 302
    )
    assert client.get("/me/").status_code == 200
    root = Player.objects.get(user__username="root")
    assert root.display_name.startswith("root #")
