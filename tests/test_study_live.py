"""A simulated study on a real daphne: 50 participants over real HTTP at once, one participant in
a real headless Chromium, then the benchmark report over the stored rows.

The server has its own database (harness/live_server.py); everything is read back through the
staff export over HTTP, and the figures are recomputed here from those rows with plain Python.
"""

import json
import math
import re
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from harness.duel_stack import Session
from harness.live_server import headless_chromium, live_server, manage, missing_browser, server_env
from tests.conftest import build_study_folder

PARTICIPANTS = 50
PRACTICE, TEST = 2, 4
MAP_NAME = "Study map"
MAP_SLUG = "study-map"
STAFF = ("staff", "staff-pass-1234")
WAIT_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study-live")
    folder = workdir / "mapfolder"
    build_study_folder(folder)
    with live_server(workdir, [(folder, MAP_NAME)]) as live:
        env = server_env(workdir)
        out = manage(
            env,
            "create_study",
            MAP_SLUG,
            "--name",
            "Live study",
            "--practice",
            str(PRACTICE),
            "--test",
            str(TEST),
        )
        link = re.search(r"link: (\S+)", out)[1]
        manage({**env, "DJANGO_SUPERUSER_PASSWORD": STAFF[1]}, "createsuperuser", "--noinput",
               "--username", STAFF[0], "--email", "staff@example.invalid")  # fmt: skip
        yield SimpleNamespace(url=live.url, log=live.log, study_link=link, env=env, workdir=workdir)


def participant_join(server, familiarity=""):
    session = Session(server.url)
    url, page = session.post_form(server.study_link, {"consent": "yes", "q_familiarity": familiarity})
    token = re.search(r"/study/r/([A-Za-z0-9_-]{43})/$", url)[1]  # the resume token: in the addresses
    public_id = re.search(r'id="participant-id">([0-9a-f-]{36})<', page)[1]  # the id in the export
    return session, token, public_id


def staff_session(server):
    session = Session(server.url)
    url, _ = session.post_form(
        "/admin/login/?next=/admin/", {"username": STAFF[0], "password": STAFF[1], "next": "/admin/"}
    )
    assert url.endswith("/admin/"), f"staff login failed: {url}"
    return session


def export_rows(server):
    _, body = staff_session(server).get("/staff/studies/live-study/export.json")
    return json.loads(body)["rows"]


def test_fifty_participants_answering_at_once_lose_and_duplicate_nothing(server):
    with ThreadPoolExecutor(max_workers=PARTICIPANTS) as pool:
        joined = list(
            pool.map(lambda i: participant_join(server, ["well", "a little", ""][i % 3]), range(PARTICIPANTS))
        )
    sent = {}  # (participant, trial) -> city sent
    sent_lock = threading.Lock()
    start_together = threading.Barrier(PARTICIPANTS)
    statuses = Counter()

    def take_part(arg):
        k, (session, pid, public_id) = arg
        status, state = session.api(f"/api/study/r/{pid}/")
        assert status == 200, state
        for trial in range(PRACTICE + TEST):
            assert state["round"]["index"] == trial, state["round"]
            city = state["candidates"][(k + trial) % len(state["candidates"])]
            start_together.wait(timeout=WAIT_S)  # everyone submits this trial at the same moment
            body = {"city": city, "view_ms": [250 * (k + 1)], "screen": {"w": 1000 + k, "h": 700}}
            status, reply = session.api(state["round"]["guess_url"], body)
            # A double click: the same answer sent again must not make a second row.
            status_again, again = session.api(state["round"]["guess_url"], {"city": state["candidates"][0]})
            with sent_lock:
                statuses[status] += 1
                statuses[status_again] += 1
                sent[(public_id, trial)] = city
            assert status == 201, reply
            assert status_again == 200 and again["result"] == reply["result"]
            status, state = session.api(f"/api/study/r/{pid}/next/", {})
            if trial == PRACTICE - 1:  # the test starts from the page that announces it
                assert status == 409 and "start the test" in state["error"], state
                session.post_form(f"/study/r/{pid}/test/", {})
                status, state = session.api(f"/api/study/r/{pid}/")
            assert status == 200, state
        assert state["finished"]

    with ThreadPoolExecutor(max_workers=PARTICIPANTS) as pool:
        list(pool.map(take_part, enumerate(joined)))

    rows = export_rows(server)
    keys = [(r["participant"], r["trial"]) for r in rows]
    assert len(keys) == len(set(keys)) == PARTICIPANTS * (PRACTICE + TEST), "rows lost or duplicated"
    assert {(r["participant"], r["trial"]): r["guess_city"] for r in rows} == sent
    assert statuses == {201: len(sent), 200: len(sent)}


def test_a_participant_in_a_real_browser_sees_practice_answers_and_no_test_answers(server, tmp_path):
    missing = missing_browser()
    if missing:
        pytest.skip(f"needs Chromium and ChromeDriver (`make browser`); missing: {missing}")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with headless_chromium(tmp_path / "profile") as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1200, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        wait = WebDriverWait(driver, WAIT_S)
        try:
            driver.get(server.url + server.study_link)
            driver.find_element(By.ID, "start-study").click()  # without consent: the browser refuses
            assert driver.find_elements(By.ID, "consent-form")
            driver.find_element(By.ID, "consent").click()
            Select(driver.find_element(By.ID, "q-familiarity")).select_by_visible_text("well")
            driver.find_element(By.ID, "start-study").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#city-choices .city-choice")))
            pid = driver.find_element(By.ID, "participant-id").text

            for trial in range(PRACTICE + TEST):
                label = "Practice" if trial < PRACTICE else "Test"
                number = trial + 1 if trial < PRACTICE else trial + 1 - PRACTICE
                wait.until(ec.text_to_be_present_in_element((By.ID, "phase-label"), f"{label} {number} /"))
                wait.until(
                    ec.element_to_be_clickable((By.CSS_SELECTOR, "#city-choices .city-choice"))
                ).click()
                wait.until(ec.visibility_of_element_located((By.ID, "result")))
                result = driver.find_element(By.ID, "result")
                if trial < PRACTICE:
                    wait.until(lambda d: d.find_element(By.ID, "result-answer").text.startswith("The place:"))
                    assert result.get_attribute("data-answer-lat")
                else:
                    assert driver.find_element(By.ID, "result-verdict").text == "Answer recorded."
                    assert result.get_attribute("data-answer-lat") is None
                    assert "The place" not in driver.find_element(By.ID, "result-answer").text
                button = "summary-link" if trial in (PRACTICE - 1, PRACTICE + TEST - 1) else "next-round"
                wait.until(ec.element_to_be_clickable((By.ID, button))).click()
                if trial == PRACTICE - 1:  # a page of its own marks the start of the test
                    wait.until(ec.element_to_be_clickable((By.ID, "start-test"))).click()
            wait.until(ec.presence_of_element_located((By.ID, "study-done")))
            assert pid in driver.find_element(By.ID, "participant-id").text
        except BaseException:
            print(f"--- daphne log ---\n{server.log()[-20000:]}")
            for entry in driver.get_log("browser"):
                print(entry["level"], entry["message"])
            raise

    mine = [r for r in export_rows(server) if r["participant"] == pid]
    assert [r["trial"] for r in mine] == list(range(PRACTICE + TEST))
    assert [r["phase"] for r in mine] == ["practice"] * PRACTICE + ["test"] * TEST
    for r in mine:
        assert (r["screen_w"], r["screen_h"]) == (1200, 800)
        assert r["views_seen"] == "0" and int(r["view_ms"]) > 0
        assert r["q_familiarity"] == "well"


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def test_stored_rows_agree_with_an_independent_computation(server):
    """Distances, points and correctness in the export recomputed from coordinates alone."""
    rows = export_rows(server)
    assert rows
    per_participant = defaultdict(list)
    for r in rows:
        km = haversine_km(r["answer_lat"], r["answer_lon"], r["guess_lat"], r["guess_lon"])
        assert r["distance_km"] == pytest.approx(km, rel=1e-6, abs=1e-6)
        assert r["correct"] == (r["guess_city"] == r["answer_city"])
        assert r["points"] == (5000 if r["correct"] else 0)
        per_participant[r["participant"]].append(r)
    for answers in per_participant.values():
        assert len({r["location_id"] for r in answers}) == len(answers)  # never a location twice


def test_the_benchmark_report_matches_the_stored_rows_recomputed_here(server):
    """After the participants above: train a model, run `manage.py benchmark --study`, and check the
    report's human figures and Table 1 against the export, and the models' against the same locations."""
    manage(server.env, "train_player", MAP_SLUG, "--player", "ensemble", "--no-progress")
    out = manage(server.env, "benchmark", MAP_SLUG, "--study", "live-study", "--bootstrap", "500")
    report_path = re.search(r"report: (\S+)", out)[1]
    staff = staff_session(server)
    _, page = staff.get(report_path)
    assert "Live study" in page and "ensemble" in page
    _, body = staff.get(report_path.rstrip("/") + "/files/report.json")
    report = json.loads(body)

    rows = export_rows(server)
    test_rows = [r for r in rows if r["phase"] == "test"]
    assert test_rows, "the participants are those of the tests above: run the whole module"
    test_locations = {r["location_id"] for r in test_rows}
    assert report["locations"] == len(test_locations) == TEST

    methods = {m["method"]: m for m in report["methods"]}
    humans = methods["humans"]
    accuracy = 100 * sum(r["correct"] for r in test_rows) / len(test_rows)
    assert humans["n"] == len(test_rows)
    assert humans["accuracy"] == pytest.approx(accuracy)
    assert humans["mean_points"] == pytest.approx(sum(r["points"] for r in test_rows) / len(test_rows))
    low, high = humans["accuracy_ci"]
    assert low <= humans["accuracy"] <= high

    by_participant = defaultdict(list)
    for r in rows:
        by_participant[r["participant"]].append(r)
    table1 = {p["participant"]: p for p in report["participants"]}
    assert set(table1) == set(by_participant)
    for pid, answers in by_participant.items():
        for phase in ("practice", "test"):
            mine = [r for r in answers if r["phase"] == phase]
            assert table1[pid][f"{phase}_n"] == len(mine)
            assert table1[pid][f"{phase}_accuracy"] == pytest.approx(
                100 * sum(r["correct"] for r in mine) / len(mine)
            )

    for name in ("ensemble", "centroid", "random"):
        assert methods[name]["available"] and methods[name]["n"] == TEST, methods[name]
    clip = methods.get("clip")
    assert clip is None or (not clip["available"] and clip["reason"])
    paired = [p for p in report["paired"] if p["model"] == "ensemble" and p["metric"] == "accuracy"]
    assert paired and paired[0]["locations"] == TEST
    human_by_location = defaultdict(list)
    for r in test_rows:
        human_by_location[r["location_id"]].append(100 * r["correct"])
    human_mean = sum(sum(v) / len(v) for v in human_by_location.values()) / len(human_by_location)
    assert paired[0]["human"] == pytest.approx(human_mean)
