"""A full game against a trained machine player in a real browser (issue 12).

A real daphne (harness/live_server.py) serves a small city map built here; `manage.py train_player`
trains `ensemble` on its train split. Headless Chromium plays five rounds in city mode. Before each
guess, once the machine's guess for the round is stored (read from the server's own SQLite
database, never through HTTP), the summary page's footer must show the machine's points for the
finished rounds only; after the guess, that round's too. At the end the summary map carries one
machine pin per round, numbered by its round.
"""

import sqlite3
import time
from types import SimpleNamespace

import pytest

from harness.fixture_map import build_fixture_folder, write_manifest
from harness.live_server import headless_chromium, live_server, manage, missing_browser, server_env

pytestmark = pytest.mark.browser

MAP_NAME, MAP_SLUG = "Machine city map", "machine-city-map"
PLAYER = "ensemble"
ROUNDS = 5
WAIT_S = 30
# Per city: three train, one val and two test locations; the panorama is a test location too. The
# machine plays only the held-out ones (11), never those it trained on.
SPLITS = ("train", "train", "train", "val", "test", "test")


def machine_city_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rows = build_fixture_folder(folder, per_city=len(SPLITS), panoramas=True)
    for i, row in enumerate(rows):
        row["split"] = SPLITS[i % len(SPLITS)] if row["source"] == "Mapillary" else "test"
    write_manifest(folder, rows)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("machine-game")
    folder = machine_city_folder(workdir / "mapfolder")
    with live_server(workdir, []) as live:
        env = server_env(workdir)
        manage(env, "import_map", str(folder), "--name", MAP_NAME, "--kind", "city", "--no-progress")
        manage(env, "train_player", MAP_SLUG, "--player", PLAYER, "--no-progress")
        yield SimpleNamespace(url=live.url, log=live.log, db_path=workdir / "db.sqlite3")


@pytest.fixture
def browser(server, tmp_path):
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver


def wait_until(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition, message=f"waited {WAIT_S} s for {what}")


def machine_points(db_path, game_id, index):
    """The machine's stored points for round `index` of the game, or None before it guessed."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute(
            "SELECT g.points FROM geogame_guess g JOIN geogame_round r ON g.round_id = r.id "
            "JOIN geogame_game gm ON r.game_id = gm.id JOIN players_player p ON g.player_id = p.id "
            "WHERE p.kind = 'machine' AND gm.public_id = ? AND r.\"index\" = ?",
            (game_id.replace("-", ""), index),
        ).fetchone()
    return None if row is None else row[0]


def wait_for_machine_guess(db_path, game_id, index):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        points = machine_points(db_path, game_id, index)
        if points is not None:
            return points
        time.sleep(0.2)  # polling the database for a condition, bounded above
    raise AssertionError(f"the machine stored no guess for round {index + 1} within {WAIT_S} s")


def summary_footer(driver, summary_url):
    """(opponent total in the footer, rounds with a machine pin row) on the summary page."""
    from selenium.webdriver.common.by import By

    driver.get(summary_url)
    total = driver.find_element(By.ID, "opponent-total").get_attribute("data-points")
    pinned = [
        r.get_attribute("data-round") for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-opponent-lat]")
    ]
    return int(total), pinned


def test_a_full_game_against_a_trained_machine_shows_its_points_only_after_each_guess(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    driver.get(server.url + "/")
    driver.find_element(By.ID, f"map-{MAP_SLUG}").click()
    driver.find_element(By.ID, "mode-city").click()
    Select(driver.find_element(By.ID, "opponent")).select_by_value(PLAYER)
    driver.find_element(By.ID, "start-game").click()
    wait_until(driver, lambda d: "/play/" in d.current_url, "the play page")
    play_url = driver.current_url
    game_id = play_url.rstrip("/").split("/")[-1]
    summary_url = f"{server.url}/games/{game_id}/summary/"

    shown, points_by_round = 0, []
    for number in range(1, ROUNDS + 1):
        wait_until(
            driver,
            lambda d, n=number: d.find_element(By.ID, "round-number").text == str(n),
            f"round {number}",
        )
        machine = wait_for_machine_guess(server.db_path, game_id, number - 1)

        total, pinned = summary_footer(driver, summary_url)
        assert total == shown, f"round {number}: before the guess the footer shows {total}, not {shown}"
        assert pinned == [str(n) for n in range(1, number)]

        driver.get(play_url)
        wait_until(
            driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#city-choices button.city-choice"), "choices"
        )
        driver.find_elements(By.CSS_SELECTOR, "#city-choices button.city-choice")[0].click()
        opponent = wait_until(
            driver,
            lambda d: d.find_element(By.ID, "result-opponent").get_attribute("data-points"),
            f"the machine's result for round {number}",
        )
        assert int(opponent) == machine
        shown += machine
        points_by_round.append(machine)

        total, pinned = summary_footer(driver, summary_url)
        assert total == shown, f"round {number}: after the guess the footer shows {total}, not {shown}"
        assert pinned == [str(n) for n in range(1, number + 1)]

        if number < ROUNDS:
            driver.get(play_url)
            wait_until(
                driver, lambda d: d.find_element(By.ID, "next-round").is_displayed(), "the next-round button"
            )
            driver.find_element(By.ID, "next-round").click()

    assert any(points_by_round), "the machine scored nothing: the footer checks above could not fail"
    driver.get(summary_url)
    markers = wait_until(
        driver,
        lambda d: (
            len(els := d.find_elements(By.CSS_SELECTOR, "#summary-map .num-pin-opponent")) == ROUNDS
            and els
        ),
        "the machine's pins",
    )
    assert len(markers) == ROUNDS
    labels = sorted(
        int(t.text) for t in driver.find_elements(By.CSS_SELECTOR, "#summary-map .num-pin-opponent")
    )
    assert labels == list(range(1, ROUNDS + 1))
