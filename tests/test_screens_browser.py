"""Every player-facing page in a real browser at 1400x900 and 390x844 (issue 16): screenshots of
home, round, reveal, summary, duel, privacy and error pages, each checked for its layout rules
(the Guess button on screen, the photo's share of the width, every pin inside the reveal map, the
verdict on screen) and by axe-core (no serious or critical violations).

A real daphne (tools.stack) serves the shared demo pack when it is there (else the fixture map);
games and the duel are played against `centroid`. The screenshots go to GEOGAME_SCREENS_DIR
(docs/screens/ to refresh the README's gallery), else to a temporary folder.
"""

import csv
import os
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.duel_stack import running_stack
from harness.fixture_map import build_fixture_folder
from harness.live_server import headless_chromium, manage, missing_browser, server_env
from tests.conftest import SHARED_SAMPLE, scaled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(scaled(600))]

REPO = Path(__file__).resolve().parents[1]
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
# The photo's column: at least this share of the page's width (the rest is the map's, on a desktop).
PHOTO_SHARE_MIN = {"desktop": 0.55, "phone": 0.9}
WAIT_S = 30
YOUR_PIN = ".leaflet-marker-icon:not(.city-label)"  # the city labels are Leaflet markers too
MAP_NAME = "Screens map"
SETTINGS = {
    "GEOGAME_MACHINE_THINK_S": 0.5,
    "GEOGAME_DUEL_START_S": 1.0,
    "GEOGAME_DUEL_INTERMISSION_S": 30,
}


def sample_or_fixture(folder):
    """The shared demo pack (real street photos) where it is, else the fixture map built here."""
    if (SHARED_SAMPLE / "manifest.csv").is_file():
        with open(SHARED_SAMPLE / "manifest.csv", newline="") as f:
            if sum(1 for _ in csv.DictReader(f)) >= 20:
                return SHARED_SAMPLE
    folder.mkdir(parents=True, exist_ok=True)
    build_fixture_folder(folder)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    if not AXE_JS.is_file():
        pytest.skip(f"axe-core is missing at {AXE_JS} (`npm ci`)")
    workdir = tmp_path_factory.mktemp("screens")
    env = server_env(workdir)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(
        env, "import_map", str(sample_or_fixture(workdir / "fixture")), "--name", MAP_NAME, "--no-progress"
    )
    with running_stack(workdir, name="screens", settings=SETTINGS) as stack:
        yield SimpleNamespace(url=stack.url, logs=stack.logs, slug="screens-map")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("GEOGAME_SCREENS_DIR") or tmp_path_factory.mktemp("screens-out"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(tmp_path, size, server):
    width, height = VIEWPORTS[size]
    with headless_chromium(tmp_path / f"profile-{os.urandom(4).hex()}") as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"},
        )
        try:
            yield driver
        except BaseException:
            print(f"--- server ---\n{server.logs()[-15000:]}")
            for entry in driver.get_log("browser"):
                print(entry["level"], entry["message"])
            raise


@pytest.fixture(params=list(VIEWPORTS))
def size(request):
    return request.param


def wait(driver, what, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, scaled(WAIT_S)).until(condition, message=f"waited for {what}")


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def serious_violations(driver):
    """axe-core's serious and critical violations on the page as it is now: [(rule, targets)]."""
    driver.execute_script(AXE_JS.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations.map((v) =>"
        " [v.id, v.impact, v.nodes.slice(0, 3).map((n) => n.target.join(' '))])));"
    )
    return [(rule, targets) for rule, impact, targets in result if impact in ("serious", "critical")]


def snap(driver, shots, name, size):
    """Screenshot, then axe-core: the page must have no serious or critical violation."""
    driver.execute_script("return document.fonts && document.fonts.ready")
    driver.save_screenshot(str(shots / f"{name}-{size}.png"))
    assert serious_violations(driver) == [], f"{name} at {size}"


def rect(driver, element_id):
    return driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,"
        " height: r.height, vw: document.documentElement.clientWidth, vh: window.innerHeight};",
        element_id,
    )


def assert_on_screen(driver, element_id, what):
    r = rect(driver, element_id)
    assert r["width"] > 0 and r["height"] > 0, f"{what} is not shown"
    assert (
        r["left"] >= 0 and r["top"] >= 0 and r["right"] <= r["vw"] + 0.5 and r["bottom"] <= r["vh"] + 0.5
    ), f"{what} is outside the viewport: {r}"


def assert_photo_fills_its_column(driver, size):
    """The photo's frame takes its share of the page's width, and the photo (object-fit: contain)
    fills the frame's width or its height."""
    frame = driver.execute_script(
        "const f = document.querySelector('.view-frame').getBoundingClientRect();"
        "const i = document.getElementById('view-image');"
        "return {w: f.width, h: f.height, iw: i.naturalWidth, ih: i.naturalHeight,"
        " vw: document.documentElement.clientWidth};"
    )
    share = frame["w"] / frame["vw"]
    assert share >= PHOTO_SHARE_MIN[size], f"the photo's column is {share:.0%} of the width at {size}"
    shown_w = min(frame["w"], frame["h"] * frame["iw"] / frame["ih"])
    shown_h = shown_w * frame["ih"] / frame["iw"]
    assert shown_w >= frame["w"] - 2 or shown_h >= frame["h"] - 2, frame


def pins_outside_the_map(driver, selectors):
    """Selectors of the reveal's pins that are not wholly inside #map (or missing)."""
    return driver.execute_script(
        "const box = document.getElementById('map').getBoundingClientRect();"
        "return arguments[0].filter((sel) => { const el = document.querySelector('#map ' + sel);"
        " if (!el) return true; const r = el.getBoundingClientRect();"
        " return !(r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1"
        " && r.bottom <= box.bottom + 1); });",
        selectors,
    )


def image_loaded(driver):
    return driver.execute_script(
        "const i = document.getElementById('view-image'); return i.complete && i.naturalWidth > 0"
    )


def place_pin(driver, size, dx=-40, dy=30):
    """Put the pin on the map (on a phone, the first tap grows the small map)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    the_map = by_id(driver, "map")
    if size == "phone" and "map-open" not in the_map.find_element(
        By.XPATH, "./ancestor::*[contains(@class,'play')]"
    ).get_attribute("class"):
        ActionChains(driver).move_to_element_with_offset(the_map, 0, 0).click().perform()
        wait(driver, "the map to grow", lambda d: by_id(d, "map").size["height"] > 300)
    ActionChains(driver).move_to_element_with_offset(the_map, dx, dy).click().perform()
    wait(driver, "the Guess button", lambda d: by_id(d, "submit-guess").is_enabled())


def start_game(driver, server, opponent="centroid"):
    from selenium.webdriver.support.ui import Select

    driver.get(server.url + "/")
    by_id(driver, f"map-{server.slug}").click()
    by_id(driver, "mode-coordinates").click()
    Select(by_id(driver, "opponent")).select_by_value(opponent)
    by_id(driver, "start-game").click()
    wait(driver, "the play page", lambda d: "/play/" in d.current_url)


def test_home_machines_and_a_game_link_in_another_browser(server, shots, size, tmp_path):
    with chromium(tmp_path, size, server) as driver:
        driver.get(server.url + "/")
        assert [
            o.get_attribute("value") for o in driver.find_elements("css selector", "#opponent option")
        ] == [
            "",
            "random",
            "centroid",
            "retrieval",
        ]  # the demo pack has no trained model: only what can play (without training) is offered
        snap(driver, shots, "home", size)
        driver.get(server.url + "/machines/")
        snap(driver, shots, "machines", size)
        start_game(driver, server)
        play_url = driver.current_url
    with chromium(tmp_path, size, server) as other:
        other.get(play_url)
        page = by_id(other, "error-page")
        assert page.get_attribute("data-status") == "404"
        assert other.find_element("css selector", ".site-header .brand").is_displayed()
        snap(other, shots, "error-404", size)


def test_a_game_against_a_machine_round_reveal_and_summary(server, shots, size, tmp_path):
    from selenium.webdriver.common.by import By

    with chromium(tmp_path, size, server) as driver:
        start_game(driver, server)
        for number in range(1, 6):
            wait(driver, f"round {number}", lambda d, n=number: by_id(d, "round-number").text == str(n))
            wait(driver, "the photo", image_loaded)
            if number == 1:
                assert_photo_fills_its_column(driver, size)
                assert_on_screen(driver, "submit-guess", "the Guess button")
                wait(
                    driver,
                    "the outlines",
                    lambda d: by_id(d, "map").get_attribute("data-outlines") == "loaded",
                )
                snap(driver, shots, "round", size)
            place_pin(driver, size)
            if number == 1 and size == "phone":
                assert_on_screen(driver, "submit-guess", "the Guess button under the grown map")
            by_id(driver, "submit-guess").click()
            wait(driver, "the result", lambda d: by_id(d, "result-points").get_attribute("data-points"))
            wait(
                driver,
                "the machine's pin",
                lambda d: d.find_elements(By.CSS_SELECTOR, "#map path.opponent-marker"),
            )
            assert (
                pins_outside_the_map(driver, [YOUR_PIN, "path.answer-marker", "path.opponent-marker"]) == []
            )
            labels = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-tooltip")]
            assert len(labels) == 3 and any(t.startswith("You:") for t in labels), labels
            assert any(t.startswith("Middle (machine):") for t in labels), labels
            assert_on_screen(driver, "result-verdict", "the verdict")
            opponent_total = int(by_id(driver, "opponent-total-points").get_attribute("data-points"))
            assert by_id(driver, "opponent-total-points").text == f"{opponent_total:,}"
            if number == 1:
                snap(driver, shots, "reveal", size)
            if number < 5:
                by_id(driver, "next-round").click()
        by_id(driver, "summary-link").click()
        wait(driver, "the summary", lambda d: d.find_elements(By.ID, "summary-map"))
        verdict = by_id(driver, "verdict")
        assert verdict.get_attribute("data-outcome") in ("win", "lose", "draw")
        wait(
            driver, "the numbered pins", lambda d: by_id(d, "summary-map").get_attribute("data-pins") == "15"
        )
        numbers = sorted(int(p.text) for p in driver.find_elements(By.CSS_SELECTOR, "#summary-map .num-pin"))
        assert numbers == sorted(list(range(1, 6)) * 3)
        total = by_id(driver, "summary-total")
        assert total.text == f"{int(total.get_attribute('data-points')):,}"
        snap(driver, shots, "summary", size)


def test_a_duel_round_fits_the_screen(server, shots, size, tmp_path):
    from selenium.webdriver.common.by import By

    with chromium(tmp_path, size, server) as driver:
        driver.get(server.url + "/duels/")
        by_id(driver, f"map-{server.slug}").click()
        by_id(driver, "opponent-centroid").click()
        by_id(driver, "start-duel").click()
        root = wait(driver, "the duel", lambda d: d.find_elements(By.ID, "duel"))[0]
        wait(driver, "round 1", lambda d: root.get_attribute("data-phase") == "guessing")
        wait(driver, "the photo", image_loaded)
        wait(driver, "the outlines", lambda d: by_id(d, "map").get_attribute("data-outlines") == "loaded")
        assert_photo_fills_its_column(driver, size)
        assert_on_screen(driver, "submit-guess", "the duel's Guess button")
        snap(driver, shots, "duel", size)
        place_pin(driver, size)
        by_id(driver, "submit-guess").click()
        wait(driver, "the round's result", lambda d: root.get_attribute("data-phase") in ("result", "over"))
        assert pins_outside_the_map(driver, ["path.answer-marker", "path.seat-0", "path.seat-1"]) == []
        assert_on_screen(driver, "result-verdict", "the duel round's verdict")
        snap(driver, shots, "duel-reveal", size)


def test_the_privacy_check_and_its_result(server, shots, size, tmp_path):
    with chromium(tmp_path, size, server) as driver:
        driver.get(server.url + "/privacy/")
        by_id(driver, "caption").send_keys("Weekend in Philly, by the Liberty Bell")
        by_id(driver, "privacy-submit").click()
        result = wait(driver, "the result", lambda d: d.find_elements("id", "privacy-result"))[0]
        text = result.text
        for word in ("c*", "area term", "README"):
            assert word not in text
        snap(driver, shots, "privacy", size)


def press(driver, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def focused(driver):
    """The focused element's id (or its tag), and whether it shows a visible focus ring."""
    return driver.execute_script(
        "const e = document.activeElement; const s = getComputedStyle(e);"
        "return [e.id || e.tagName.toLowerCase(), e.matches(':focus-visible') && s.outlineStyle !== 'none'"
        " && parseFloat(s.outlineWidth) > 0];"
    )


def tab_to(driver, element_id, most=40):
    """Tab until `element_id` has the focus (at most `most` presses); asserts its focus ring shows."""
    from selenium.webdriver.common.keys import Keys

    for _ in range(most):
        press(driver, Keys.TAB)
        name, visible = focused(driver)
        if name == element_id:
            assert visible, f"{element_id} has the focus but no visible focus ring"
            return
    raise AssertionError(f"{most} Tabs never reached #{element_id}")


def map_zoom(driver):
    return driver.execute_script(
        "const t = document.querySelector('#map .leaflet-proxy'); return t ? t.style.transform : '';"
    )


def test_a_whole_game_and_its_summary_from_the_keyboard_alone(server, shots, tmp_path):
    """Tab to the map, + and - zoom, arrows pan, Space pins the centre, Enter guesses and goes on,
    Tab and Enter open the summary; the focus ring shows at every stop. The map drawn on the way
    (zoomed in over the Great Lakes) has its lakes and, from zoom 5, the admin-1 lines."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chromium(tmp_path, "desktop", server) as driver:
        start_game(driver, server)  # the home page's form: its own keyboard use is the browser's
        the_map = by_id(driver, "map")
        for number in range(1, 6):
            wait(driver, f"round {number}", lambda d, n=number: by_id(d, "round-number").text == str(n))
            wait(driver, "the photo", image_loaded)
            if number == 1:
                wait(driver, "the lakes", lambda d: int(the_map.get_attribute("data-lakes") or 0) > 200)
                tab_to(driver, "map")
                assert the_map.get_attribute("data-admin1-shown") == "false"
                before = map_zoom(driver)
                press(driver, "+", "+", "+", "+")
                assert map_zoom(driver) != before
                assert the_map.get_attribute("data-admin1-shown") == "true"
                # From the world's middle to the Great Lakes: 120 px a press at zoom 5 and a bit.
                press(driver, *[Keys.ARROW_LEFT] * 16, *[Keys.ARROW_UP] * 9)
                wait(driver, "the admin-1 lines", lambda d: the_map.get_attribute("data-admin1") == "loaded")
                wait(
                    driver,
                    "the city labels",
                    lambda d: int(the_map.get_attribute("data-city-labels") or 0) > 0,
                )
                driver.save_screenshot(str(shots / "keyboard-map-desktop.png"))
                press(driver, "-")
                assert the_map.get_attribute("data-admin1-shown") == "false"
            else:
                assert focused(driver) == ["map", True], "the map keeps the focus from round to round"
            assert not by_id(driver, "submit-guess").is_enabled()
            press(driver, Keys.ARROW_RIGHT, " ")
            wait(driver, "the pin", lambda d: by_id(d, "submit-guess").is_enabled())
            press(driver, Keys.ENTER)
            wait(driver, "the result", lambda d: by_id(d, "result-points").get_attribute("data-points"))
            if number < 5:
                press(driver, Keys.ENTER)  # the next round
        wait(driver, "the summary link", lambda d: by_id(d, "summary-link").is_displayed())
        tab_to(driver, "summary-link")
        press(driver, Keys.ENTER)
        wait(driver, "the summary", lambda d: d.find_elements(By.ID, "summary-map"))
        assert by_id(driver, "verdict").get_attribute("data-outcome") in ("win", "lose", "draw")
        name, visible = None, False
        for _ in range(30):  # every stop on the summary page shows where the focus is
            press(driver, Keys.TAB)
            name, visible = focused(driver)
            assert visible, f"{name} has the focus but no visible focus ring"
            if name == "div":  # the rounds table, scrollable from the keyboard
                break
        assert name == "div"
