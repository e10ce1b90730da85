"""Hostile text in a real browser: a display name and a manifest's cities and countries made of
markup render as inert literal text on the play page's reveal and in a duel's round result (the
map's tooltips included), and the Content-Security-Policy blocks nothing of the site's own.

The duel is the attack as it was found (issue 20): the attacker, with a display name of markup,
creates a duel over HTTP and plays it over the WebSocket protocol (harness/duel_stack.py), and the
victim joins by the invite link in headless Chromium and plays the round to its result."""

import os
import re
from pathlib import Path

import pytest

from harness.duel_stack import Client, Session, running_stack
from harness.fixture_map import build_fixture_folder, write_manifest
from harness.live_server import headless_chromium, manage, missing_browser, server_env

pytestmark = pytest.mark.browser

WAIT_S = 20
MAP = ("Hostile world", "hostile-world")
# Each sets window.pwned and the title if it ever runs; a display name is at most 40 characters.
HOSTILE_NAME = "<img src=x onerror=window.pwned='name'>"
HOSTILE_CITY = "<img src=x onerror=\"window.pwned='city';document.title='pwned'\">"
HOSTILE_COUNTRY = "<script>window.pwned='country'</script><b>Land</b>"
SETTINGS = {
    "GEOGAME_DUEL_ROUND_S": 30,
    "GEOGAME_DEADLINE_GRACE_S": 0.5,
    "GEOGAME_DUEL_START_S": 0.5,
    "GEOGAME_DUEL_INTERMISSION_S": 60,  # the result stays on screen while the test looks at it
}
# Runs before the page's own scripts in every document: records each CSP violation, in the
# document and in sessionStorage (which outlives the navigations of one tab).
RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const seen = JSON.parse(sessionStorage.getItem("csp-violations") || "[]");
  seen.push({directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
             sample: e.sample, page: location.pathname});
  sessionStorage.setItem("csp-violations", JSON.stringify(seen));
});
"""
VIOLATIONS = "return JSON.parse(sessionStorage.getItem('csp-violations') || '[]')"
# Evidence that markup became elements: an <img src=x>, a <b> or a <script> without a src (other
# than the server's data for the page, a JSON tag from json_script, which never runs).
INJECTED = """
const runs = (e) => e.tagName === "SCRIPT" && !e.src && e.type !== "application/json";
return [...document.querySelectorAll("img, b, script")]
  .filter((e) => e.getAttribute("src") === "x" || e.tagName === "B" || runs(e))
  .map((e) => e.outerHTML)
"""
# Every marker on the map gets a mouseover, which opens its (non-permanent) tooltip too.
TOOLTIPS = """
document.querySelectorAll("#map path.leaflet-interactive").forEach((p) =>
  p.dispatchEvent(new MouseEvent("mouseover", {bubbles: true})));
return [...document.querySelectorAll("#map .leaflet-tooltip")].map((t) => t.textContent);
"""
IMAGE_LOADED = "const i = document.getElementById('view-image'); return i.complete && i.naturalWidth > 0"


def hostile_folder(folder):
    """The fixture map (harness/fixture_map.py) with markup in every city and country."""
    rows = build_fixture_folder(folder, panoramas=False)
    for row in rows:
        row["city"] = f"{HOSTILE_CITY} {row['city']}"
        row["country"] = HOSTILE_COUNTRY
    write_manifest(folder, rows)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("xss-browser")
    folder = hostile_folder(workdir / "hostile-map")
    env = server_env(workdir)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "import_map", str(folder), "--name", MAP[0], "--no-progress")
    with running_stack(workdir, name="xss", settings=SETTINGS) as stack:
        yield stack


@pytest.fixture
def browser(server, tmp_path):
    with headless_chromium(tmp_path / "chromium-profile", ["--window-size=1400,900"]) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
        try:
            yield driver
        except BaseException:
            print(f"--- daphne log ---\n{server.logs()[-20000:]}")
            print("--- browser console ---")
            for entry in driver.get_log("browser"):
                print(entry["level"], entry["message"])
            raise


def wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S)


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def text(driver, element_id):
    """An element's textContent (what it holds as text, shown or not)."""
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def assert_inert(driver, title):
    assert driver.execute_script(INJECTED) == []
    assert driver.execute_script("return window.pwned === undefined")
    assert driver.title == title
    assert driver.execute_script(VIOLATIONS) == []


def test_hostile_names_and_places_stay_text_in_a_game_and_a_duel_under_the_policy(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    driver = browser
    shots = Path(os.environ.get("GEOGAME_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    place = f"{HOSTILE_CITY} Stuttgart, {HOSTILE_COUNTRY}"

    # The policy is enforced: an inline script added to the page neither runs nor goes unreported.
    driver.get(server.url + "/")
    driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.inline = 1'; "
        "document.body.append(s)"
    )
    wait(driver).until(lambda d: d.execute_script(VIOLATIONS))
    assert driver.execute_script("return window.inline === undefined")
    assert [v["directive"] for v in driver.execute_script(VIOLATIONS)] == ["script-src-elem"]
    assert any("Content Security Policy" in e["message"] for e in driver.get_log("browser"))  # read: gone
    driver.execute_script("sessionStorage.removeItem('csp-violations')")

    # -- A game in city mode, to the reveal: the city buttons, the answer and both map tooltips.
    field = by_id(driver, "display-name")
    field.clear()
    field.send_keys(HOSTILE_NAME)
    by_id(driver, f"map-{MAP[1]}").click()
    by_id(driver, "mode-city").click()
    Select(by_id(driver, "opponent")).select_by_value("")
    by_id(driver, "start-game").click()
    wait(driver).until(lambda d: "/play/" in d.current_url)
    title = driver.title
    wait(driver).until(lambda d: d.find_elements("css selector", "#city-choices button.city-choice"))
    choices = driver.find_elements("css selector", "#city-choices button.city-choice")
    labels = [b.get_attribute("textContent") for b in choices]
    assert place in labels and all(label.endswith(f", {HOSTILE_COUNTRY}") for label in labels)
    # The pick and the answer are two markers, each with its tooltip.
    choices[0].click()
    wait(driver).until(lambda d: by_id(d, "result").is_displayed())
    answer = text(driver, "result-answer").removeprefix("The place: ")
    assert answer in labels
    tooltips = driver.execute_script(TOOLTIPS)
    assert answer in tooltips
    assert f"Your pick: {labels[0]}" in tooltips
    assert_inert(driver, title)
    driver.save_screenshot(str(shots / "xss-play-reveal.png"))

    # -- A duel: the attacker (HTTP and WebSocket) invites the victim (this browser).
    attacker = Session(server.url)
    duel_id = attacker.create_duel(opponent="human", name=HOSTILE_NAME, map_slug=MAP[1])
    _, page = attacker.get(f"/duels/{duel_id}/")
    invite = re.search(r"/duels/join/[\w-]+/", page)[0]
    socket = Client(server, attacker, duel_id)
    try:
        driver.get(server.url + invite)
        field = by_id(driver, "display-name")
        field.clear()
        field.send_keys("Victim")
        by_id(driver, "join").click()
        wait(driver).until(lambda d: d.current_url.endswith(f"/duels/{duel_id}/"))
        title = driver.title
        root = by_id(driver, "duel")
        wait(driver).until(lambda d: by_id(d, "connection").get_attribute("data-state") == "open")
        wait(driver).until(lambda d: root.get_attribute("data-phase") == "guessing")
        assert text(driver, "seat-name-0") == HOSTILE_NAME
        started = socket.until_type("round_started")
        socket.guess(started["round"]["index"], 10.0, 10.0)
        wait(driver).until(lambda d: d.execute_script(IMAGE_LOADED))
        ActionChains(driver).move_to_element_with_offset(by_id(driver, "map"), -200, 110).click().perform()
        wait(driver).until(lambda d: by_id(d, "submit-guess").is_enabled())
        by_id(driver, "submit-guess").click()
        wait(driver).until(lambda d: root.get_attribute("data-phase") == "result")
        assert text(driver, "result-name-0") == HOSTILE_NAME
        answer = text(driver, "result-answer").removeprefix("The place: ")
        assert answer.startswith(HOSTILE_CITY) and answer.endswith(f", {HOSTILE_COUNTRY}")
        tooltips = driver.execute_script(TOOLTIPS)
        assert answer in tooltips
        assert any(t.startswith(f"{HOSTILE_NAME}: ") for t in tooltips), tooltips
        assert any(t.startswith("Victim (you): ") for t in tooltips), tooltips
        assert_inert(driver, title)
        driver.save_screenshot(str(shots / "xss-duel-result.png"))
    finally:
        socket.close()
    severe = [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "tile.openstreetmap.org" not in e["message"]
    ]
    assert severe == []
