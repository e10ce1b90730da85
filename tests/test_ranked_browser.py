"""Ratings in a real browser at 1400x900 and 390x844: the machines' ratings on /machines/ after
`manage.py calibrate`, an account's rating on /me/ after a ranked duel, and the lobby's "Ranked"
choice, each on screen without sideways scrolling; screenshots into GEOGAME_SCREENSHOT_DIR when set
(docs/screens/ holds the committed ones).

A real daphne (harness/live_server.py) serves the fixture map; calibration runs the real command
against the server's database. The ranked duel is rated through the duel's own path: it is made
against a machine that guesses, and its first round left to run out: the person forfeits."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.fixture_map import build_fixture_folder
from harness.live_server import headless_chromium, live_server, missing_browser, server_env
from tests.conftest import scaled
from tests.test_comeback_browser import SIZES, by_id, size, wait  # the same two sizes and helpers
from tools.stack import manage

pytestmark = [pytest.mark.browser, pytest.mark.timeout(int(scaled(600)))]

MAP_SLUG = "fixture-world"
# Plays a ranked duel for the account through the duel services, its first round run out (a forfeit).
RANKED_FORFEIT = """
from datetime import timedelta
from django.contrib.auth.models import User
from geogame.duels import services as duels
from geogame.duels.models import Duel
from geogame.game.models import Round
from geogame.maps.models import Map
from inference.services import machine_guess_run
player = User.objects.get(username="ada").player
m = Map.objects.get(slug="fixture-world")
duel = duels.duel_create(player=player, map=m, opponent="random", ranked=True)
duel.refresh_from_db()
duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
rnd = Round.objects.get(game=duel.game, index=0)
machine_guess_run(round_id=rnd.id, player_id=duel.seats.get(seat=1).player_id)
duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=30))
duel.refresh_from_db()
assert duel.status == Duel.FINISHED, duel.status
print(duel.public_id, duel.end_reason, duel.winner_seat)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("ranked")
    folder = workdir / "mapfolder"
    folder.mkdir()
    build_fixture_folder(folder)
    with live_server(workdir, [(folder, "Fixture world")]) as srv:
        yield SimpleNamespace(url=srv.url, env=server_env(workdir))


@pytest.fixture
def screens(tmp_path):
    folder = Path(os.environ.get("GEOGAME_SCREENSHOT_DIR") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(driver, screens, name, element_id, ready=None):
    """Both sizes: `element_id` shown (once `ready`, if given, holds), nothing wider than the screen;
    a screenshot of each."""
    for label in SIZES:
        size(driver, label)
        driver.refresh()
        wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", "the page")
        if ready is not None:
            wait(driver, ready, f"{name} ready")
        element = by_id(driver, element_id)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        assert element.is_displayed(), f"{element_id} hidden at {label}"
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {label}"
        driver.save_screenshot(str(screens / f"{name}-{label}.png"))


def test_ratings_on_the_machines_page_the_players_page_and_the_lobby(server, screens, tmp_path):
    out = manage(server.env, "calibrate", MAP_SLUG, "--games", "4", "--players", "random,centroid")
    assert "4 calibration games on fixture-world" in out
    with headless_chromium(tmp_path / "profile") as driver:
        size(driver, "wide")
        driver.get(f"{server.url}/machines/")
        rows = driver.find_elements("css selector", "#machine-ratings .machine-rating")
        assert {r.get_attribute("data-player") for r in rows} == {"random", "centroid"}
        for r in rows:
            games = r.find_element("css selector", ".games").text
            machine_games = r.find_element("css selector", ".machine-games").text
            assert games == machine_games == "4"
            assert r.find_element("css selector", ".deviation").text.startswith("± ")
        shoot(driver, screens, "machines-ratings", "machine-ratings")

        driver.get(f"{server.url}/accounts/signup/")
        for field, value in (
            ("signup-username", "ada"),
            ("signup-display-name", "Ada"),
            ("signup-email", "ada@example.org"),
            ("signup-password", "a-long-pass-phrase-1"),
            ("signup-password-again", "a-long-pass-phrase-1"),
        ):
            by_id(driver, field).send_keys(value)
        by_id(driver, "signup-submit").click()
        wait(driver, lambda d: d.current_url.endswith("/me/"), "the player's page")
        assert by_id(driver, "no-ratings").is_displayed()

        driver.get(f"{server.url}/duels/")
        ranked = by_id(driver, "ranked")
        assert ranked.is_enabled() and not ranked.is_selected()
        shoot(driver, screens, "duel-lobby-ranked", "ranked-choice")

        duel_id, reason, winner = manage(server.env, "shell", "-c", RANKED_FORFEIT).splitlines()[-1].split()
        assert (reason, winner) == ("forfeit", "1")  # Ada made no guess: the machine wins
        driver.get(f"{server.url}/duels/{duel_id}/")
        assert by_id(driver, "ranked-badge").is_displayed()

        def over(d):
            return "a forfeit" in by_id(d, "winner").text

        wait(driver, over, "the forfeit")
        assert by_id(driver, "winner").text.startswith(("Dart wins", "Dart (machine) wins"))
        shoot(driver, screens, "duel-ranked-forfeit", "winner", ready=over)
        driver.get(f"{server.url}/me/")
        row = driver.find_element("css selector", f'#ratings-table .rating-row[data-map="{MAP_SLUG}"]')
        assert int(row.find_element("css selector", ".rating").text.replace(",", "")) < 1500  # a forfeit
        assert row.find_element("css selector", ".games").text == "1"
        shoot(driver, screens, "me-ratings", "ratings-table")
