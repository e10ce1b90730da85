"""The staff's study and benchmark report pages fit the window (issue 19): in headless Chromium at
1400x900 and 390x844 the page never scrolls sideways (document.scrollWidth <= innerWidth); a wide
table scrolls inside its own box. Screenshots go to GEOGAME_SCREENS_DIR, else a temporary folder."""

import os
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from harness.duel_stack import Session
from harness.live_server import headless_chromium, live_server, manage, missing_browser, server_env
from tests.conftest import build_study_folder, scaled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(scaled(600))]

VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
STAFF = ("staff", "staff-pass-1234")
INSTRUCTIONS = (
    "Welcome, and thank you for taking part.\n\nYou will see street photos from a handful of cities. "
    "For each, pick the city you think it is in. There is no time pressure.\n---\n"
    "Some locations are attention checks: they tell you which city to pick.\n\n"
    "After the practice you do not see whether you were right. Read the consent text below, then start."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = missing_browser()
    if missing:
        pytest.skip(f"needs Chromium and ChromeDriver (`make browser`); missing: {missing}")
    workdir = tmp_path_factory.mktemp("study-report")
    folder = workdir / "mapfolder"
    build_study_folder(folder)
    with live_server(workdir, [(folder, "Study map")]) as live:
        env = server_env(workdir)
        (workdir / "instructions.txt").write_text(INSTRUCTIONS, encoding="utf-8")
        out = manage(
            env, "create_study", "study-map", "--name", "Report fit", "--practice", "1", "--test", "3",
            "--catch-trials", "1", "--exclude", "max_failed_catch_trials=0", "--bonus-rate", "0.10",
            "--bonus-currency", "GBP", "--instructions-file", str(workdir / "instructions.txt"),
        )  # fmt: skip
        link = re.search(r"link: (\S+)", out)[1]
        for n in range(3):  # three participants answer everything
            session = Session(live.url)
            url, _ = session.post_form(f"{link}?pid=p{n}&page=2", {"consent": "yes"})  # the form: page 2
            token = re.search(r"/study/r/([A-Za-z0-9_-]{43})/$", url)[1]
            _, st = session.api(f"/api/study/r/{token}/")
            for trial in range(5):
                instructed = re.search(r"pick \u201c(.+)\u201d", st["round"].get("prompt") or "")
                pick = instructed[1] if instructed else st["candidates"][n % 2]  # the catch trial as told
                status, _ = session.api(st["round"]["guess_url"], {"city": pick})
                assert status == 201
                if trial == 0:
                    session.post_form(f"/study/r/{token}/test/", {})
                    _, st = session.api(f"/api/study/r/{token}/")
                else:
                    _, st = session.api(f"/api/study/r/{token}/next/", {})
        out = manage(env, "benchmark", "study-map", "--study", "report-fit", "--players",
                     "random,centroid,ensemble,retrieval", "--bootstrap", "100")  # fmt: skip
        report = re.search(r"report: (/benchmarks/[0-9a-f-]{36}/)", out)[1]
        manage({**env, "DJANGO_SUPERUSER_PASSWORD": STAFF[1]}, "createsuperuser", "--noinput",
               "--username", STAFF[0], "--email", "staff@example.invalid")  # fmt: skip
        yield SimpleNamespace(url=live.url, log=live.log, report=report, link=link)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("GEOGAME_SCREENS_DIR") or tmp_path_factory.mktemp("report-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fits(driver, shots, name, size):
    """Screenshot the page; it must not be wider than the window."""
    driver.save_screenshot(str(shots / f"{name}-{size}.png"))
    scroll, inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{name} at {size}: the page is {scroll} px wide in a {inner} px window"


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_report_and_study_pages_never_scroll_sideways(server, shots, size, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    width, height = VIEWPORTS[size]
    with headless_chromium(tmp_path / "profile") as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"},
        )
        try:
            # A participant's instructions pages, Next and Back, before the consent form.
            driver.get(server.url + server.link + "?pid=shots")
            assert "Instructions 1 / 2" in driver.find_element(By.ID, "instructions").text
            assert not driver.find_elements(By.ID, "consent-form")
            fits(driver, shots, "study-instructions-1", size)
            driver.find_element(By.ID, "instructions-next").click()
            assert "attention checks" in driver.find_element(By.ID, "instructions-text").text
            assert driver.find_elements(By.ID, "consent-form") and "pid=shots" in driver.current_url
            fits(driver, shots, "study-instructions-2", size)
            driver.find_element(By.ID, "instructions-back").click()
            assert "Welcome" in driver.find_element(By.ID, "instructions-text").text

            driver.get(server.url + "/admin/login/?next=/benchmarks/")
            driver.find_element(By.ID, "id_username").send_keys(STAFF[0])
            driver.find_element(By.ID, "id_password").send_keys(STAFF[1])
            driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
            WebDriverWait(driver, scaled(30)).until(
                # The path: the login page's own address ends in "?next=/benchmarks/".
                lambda d: urlsplit(d.current_url).path == "/benchmarks/",
                message="the staff login",
            )
            for name, path, table in [
                ("benchmark-report", server.report, "participants"),
                ("benchmark-list", "/benchmarks/", "reports"),
                ("staff-study", "/staff/studies/report-fit/", "dictionary"),
                ("staff-studies", "/staff/studies/", "studies"),
            ]:
                driver.get(server.url + path)
                assert driver.find_elements(By.ID, table), f"{name}: no #{table} (not logged in?)"
                fits(driver, shots, name, size)
                # Every table sits in a box of the page's width (it may scroll inside it).
                outside = driver.execute_script(
                    "return [...document.querySelectorAll('table')].filter((t) => {"
                    " const box = t.closest('.table-wrap') || t;"
                    " return box.getBoundingClientRect().right > window.innerWidth + 0.5;"
                    " }).map((t) => t.id);"
                )
                assert outside == [], f"{name} at {size}: tables past the window's edge: {outside}"
        except BaseException:
            print(f"--- server log ---\n{server.log()[-15000:]}")
            raise
