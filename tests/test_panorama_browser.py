"""The pannable 360-degree view in a real browser (issue 16): on a map imported with
`--panorama-view on`, a round of a place that came from a panorama offers "360° view" beside its
three fixed headings; Pannellum shows it under the site's strict Content-Security-Policy (no
console error, no refused load), and dragging it or the arrow keys turn it.

A real daphne serves the shared demo pack's equirectangular panoramas where the pack is there,
else synthetic ones made here. Screenshots go to GEOGAME_SCREENS_DIR, else a temporary folder.
WebGL comes from Chromium's software renderer (SwiftShader): the tests run without a GPU."""

import csv
import os
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.duel_stack import running_stack
from harness.live_server import headless_chromium, manage, missing_browser, server_env
from tests.conftest import SHARED_SAMPLE, scaled
from tests.test_screens_browser import (
    VIEWPORTS,
    by_id,
    focused,
    image_loaded,
    press,
    serious_violations,
    wait,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(scaled(400))]

MAP_NAME = "Panorama map"
WEBGL_ARGS = ("--enable-unsafe-swiftshader", "--use-angle=swiftshader")


def panorama_folder(folder):
    """A map folder of panoramas only: the demo pack's (its images linked, not copied) or made here."""
    folder.mkdir(parents=True)
    manifest = SHARED_SAMPLE / "manifest.csv"
    rows = []
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["projection"] == "equirectangular"]
    if len(rows) >= 5:
        (folder / "images").symlink_to(SHARED_SAMPLE / "images")
    else:
        from tests.test_panorama_view import panorama_jpeg

        (folder / "images").mkdir()
        rows = []
        for n in range(6):
            (folder / "images" / f"p{n}.jpg").write_bytes(panorama_jpeg((1024 + 64 * n, 512 + 32 * n)))
            rows.append(
                {"file": f"images/p{n}.jpg", "source": "Made", "source_id": str(n), "lat": f"{40 + n}",
                 "lon": f"{10 + n}", "heading": "0", "projection": "equirectangular", "city": f"Town {n}",
                 "country": "Nowhere", "license": "CC0", "attribution": "made by the test"}
            )  # fmt: skip
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"browser tests need Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("panorama")
    env = server_env(workdir)
    manage(env, "migrate", "--noinput", "-v", "0")
    folder = panorama_folder(workdir / "folder")
    manage(env, "import_map", str(folder), "--name", MAP_NAME, "--panorama-view", "on", "--no-progress")
    with running_stack(workdir, name="panorama") as stack:
        yield SimpleNamespace(url=stack.url, logs=stack.logs, slug="panorama-map")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("GEOGAME_SCREENS_DIR") or tmp_path_factory.mktemp("panorama-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium(tmp_path, size, server):
    width, height = VIEWPORTS[size]
    with headless_chromium(tmp_path / f"profile-{os.urandom(4).hex()}", WEBGL_ARGS) as driver:
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


def yaw(driver):
    value = by_id(driver, "panorama-box").get_attribute("data-yaw")
    return None if value is None else float(value)


def turned(before, by_deg=5):
    """The view has turned more than `by_deg` from `before` (Pannellum's yaw when it stopped).
    Pannellum turns by the frame, and software WebGL draws few frames: a key held 1.5 s turns it
    a few degrees here, tens on a real screen."""

    def check(driver):
        now = yaw(driver)
        return now is not None and abs((now - before + 180) % 360 - 180) > by_deg

    return check


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_360_view_loads_and_turns_under_the_content_security_policy(server, shots, size, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with chromium(tmp_path, size, server) as driver:
        driver.get(server.url + "/")
        by_id(driver, f"map-{server.slug}").click()
        by_id(driver, "mode-coordinates").click()
        by_id(driver, "start-game").click()
        wait(driver, "the play page", lambda d: "/play/" in d.current_url)
        wait(driver, "the photo", image_loaded)
        # The three fixed headings stay the default: the photo, its view buttons, and the 360° view
        # only on a click.
        assert len(driver.find_elements("css selector", "#view-buttons .view-btn")) == 3
        box = by_id(driver, "panorama-box")
        assert not box.is_displayed()
        opener = by_id(driver, "panorama-open")
        assert opener.is_displayed()
        driver.save_screenshot(str(shots / f"panorama-round-{size}.png"))
        opener.click()
        wait(driver, "Pannellum's view", lambda d: box.get_attribute("data-state") in ("shown", "failed"))
        assert box.get_attribute("data-state") == "shown", driver.find_element(
            "css selector", ".pnlm-error-msg"
        ).text
        assert driver.find_elements("css selector", "#panorama-viewer canvas")
        driver.save_screenshot(str(shots / f"panorama-{size}.png"))
        assert serious_violations(driver) == []

        # Dragging turns it; so do the arrow keys, which stay with it (the views behind do not change).
        start = yaw(driver)
        viewer = by_id(driver, "panorama-viewer")
        step = -VIEWPORTS[size][0] // 5
        drag = (
            ActionChains(driver).move_to_element(viewer).click_and_hold().move_by_offset(step, 0).pause(0.2)
        )
        drag.move_by_offset(step, 0).release().perform()
        wait(driver, "the view to turn on a drag", turned(start))
        dragged = yaw(driver)
        shown_view = by_id(driver, "view-image").get_attribute("data-index")
        assert focused(driver)[0] == "panorama-viewer"
        ActionChains(driver).key_down(Keys.ARROW_RIGHT).pause(1.5).key_up(Keys.ARROW_RIGHT).perform()
        wait(driver, "the view to turn on the arrow key", turned(dragged, by_deg=1))
        assert by_id(driver, "view-image").get_attribute("data-index") == shown_view
        press(driver, Keys.ESCAPE)
        wait(driver, "the 360° view to close", lambda d: not box.is_displayed())
        assert focused(driver)[0] == "panorama-open"  # the focus goes back where it was

        log = driver.get_log("browser")
        refused = [
            e["message"]
            for e in log
            if "Content Security Policy" in e["message"] or "Refused" in e["message"]
        ]
        assert refused == []
        assert [e["message"] for e in log if e["level"] == "SEVERE"] == []
