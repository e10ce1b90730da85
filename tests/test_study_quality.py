"""Data quality: the comprehension check, catch trials (an instructed answer among the test trials),
the pre-declared exclusion rules the benchmark applies; and a Prolific-style link end to end in
headless Chromium on a real daphne, up to the completion redirect and the report's exclusion counts."""

import http.server
import io
import json
import re
import threading
import urllib.parse
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from geogame.game.services import GameError
from geogame.maps.models import Location
from geogame.studies import rules as study_rules
from geogame.studies import selectors as study_selectors
from geogame.studies.models import Participant, Study
from harness.duel_stack import Session
from harness.live_server import headless_chromium, live_server, manage, missing_browser, server_env
from tests.conftest import build_study_folder
from tests.test_study import make_study, next_state, post_json, state

CHECK = [{"question": "Do you see the answers to test locations?", "choices": ["yes", "no"], "answer": "no"}]
PROLIFIC = {
    "PROLIFIC_PID": "5f1e2d3c4b5a69788796a5b4",
    "STUDY_ID": "60aa11bb22cc33dd44ee55ff",
    "SESSION_ID": "s1",
}


def instructed(st):
    match = re.search(r"pick \u201c(.+)\u201d", st["round"].get("prompt") or "")
    return match[1] if match else None


def test_the_comprehension_check_must_be_passed_to_join(study_map):
    study = make_study(study_map, comprehension=CHECK)
    url = reverse("study-join", args=[study.link_token])
    page = Client().get(url).content.decode()
    assert CHECK[0]["question"] in page
    for given in ({}, {"check_0": "yes"}, {"check_0": "maybe"}):
        response = Client().post(url, {"consent": "yes", **given})
        assert response.status_code == 400 and "read the instructions again" in response.content.decode()
    assert not Participant.objects.exists()
    assert Client().post(url, {"consent": "yes", "check_0": "no"}).status_code == 302


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"comprehension": [{"question": "Q", "choices": ["a", "b"], "answer": "c"}]}, "comprehension item"),
        ({"comprehension": "read it"}, "comprehension check must be a list"),
        ({"catch_count": 2, "mode": "coordinates"}, "need the city mode"),
        ({"catch_count": 21}, "catch trials must be"),
        ({"exclusion_rules": {"too_slow": 3}}, "unknown exclusion rule"),
        ({"exclusion_rules": {"unfinished": "yes"}}, "takes true or false"),
        ({"exclusion_rules": {"max_timeouts": -1}}, "number from 0"),
    ],
)
def test_bad_data_quality_settings_are_refused(study_map, kw, words):
    with pytest.raises(GameError, match=words):
        make_study(study_map, **kw)
    assert not Study.objects.exists()


def test_too_many_catch_trials_for_the_map_are_refused(study_map):
    outside = Location.objects.filter(map=study_map).exclude(split="test").count()
    assert outside < 20  # the fixture map: 15
    with pytest.raises(GameError, match="playable locations outside its test split"):
        make_study(study_map, catch_count=outside + 1)
    assert not Study.objects.exists()


def test_catch_trials_sit_among_the_test_trials_with_an_instruction_and_are_scored(study_map):
    study = make_study(study_map, practice_count=1, test_count=3, catch_count=2)
    test_split = set(Location.objects.filter(map=study_map, split="test").values_list("id", flat=True))
    assert len(study.catch_ids) == 2 and not set(study.catch_ids) & test_split
    client = Client()
    response = client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes"})
    participant = Participant.objects.get()
    order = participant.game.location_order
    assert len(order) == 6 and order[0] in study.practice_ids and order[1] in study.test_ids
    assert set(order[2:]) - set(study.test_ids) == set(study.catch_ids)
    st = state(client, participant)
    seen_catch = 0
    for _ in range(6):
        city = instructed(st)
        if city:
            seen_catch += 1
            assert st["round"]["phase"] == "test" and st["round"]["label"].endswith("/ 5")
            pick = city if seen_catch == 1 else next(c for c in st["candidates"] if c != city)  # fail the 2nd
        else:
            pick = st["candidates"][0]
        assert post_json(client, st["round"]["guess_url"], {"city": pick}).status_code == 201
        st = next_state(client, participant)
    assert seen_catch == 2 and response.status_code == 302
    progress = study_selectors.study_progress(study)["rows"]
    assert (progress[0]["answered"], progress[0]["total"], progress[0]["finished"]) == (6, 6, True)
    from tests.test_study_defects import export_csv

    rows = export_csv(study)
    catch = [r for r in rows if r["catch_trial"] == "True"]
    assert sorted(r["catch_passed"] for r in catch) == ["False", "True"]
    assert all(r["catch_passed"] == "" for r in rows if r["catch_trial"] == "False")


def test_exclusion_rules_name_each_participant_they_leave_out():
    rules = {"unfinished": True, "max_failed_catch_trials": 0, "min_median_time_s": 2, "max_timeouts": 1}

    def row(pid, **kw):
        return {"participant": pid, "phase": "test", "timed_out": False, "time_taken_s": 5.0, **kw}

    rows = [
        row("ok"),
        row("ok", catch_trial=True, catch_passed=True),
        row("careless", catch_trial=True, catch_passed=False),
        row("careless"),
        row("fast", time_taken_s=0.5),
        row("fast", time_taken_s=0.7),
        row("fast", time_taken_s=9.0),
        row("slow", timed_out=True),
        row("slow", timed_out=True),
    ]
    finished = {"ok": True, "careless": True, "fast": True, "slow": True, "gone": False}
    assert study_rules.exclusions(rows, finished, rules) == {
        "careless": ["max_failed_catch_trials"],
        "fast": ["min_median_time_s"],
        "slow": ["max_timeouts"],
        "gone": ["unfinished"],
    }
    assert study_rules.exclusions(rows, finished, {}) == {}


def test_create_study_takes_the_data_quality_settings_and_refuses_bad_ones(study_map, tmp_path):
    check = tmp_path / "check.json"
    check.write_text(json.dumps(CHECK))
    call_command(
        "create_study", study_map.slug, "--name", "Careful", "--practice", "1", "--test", "2",
        "--comprehension-file", str(check), "--catch-trials", "1",
        "--exclude", "unfinished=true", "--exclude", "max_failed_catch_trials=0", stdout=io.StringIO(),
    )  # fmt: skip
    study = Study.objects.get(slug="careful")
    assert study.comprehension == CHECK and len(study.catch_ids) == 1
    assert study.exclusion_rules == {"unfinished": True, "max_failed_catch_trials": 0}
    for bad, words in (
        (["--exclude", "unfinished"], "RULE=VALUE"),
        (["--exclude", "sleepy=1"], "unknown exclusion rule"),
        (["--comprehension-file", str(tmp_path / "none.json")], "cannot read the comprehension file"),
    ):
        with pytest.raises(CommandError, match=words):
            call_command(
                "create_study", study_map.slug, "--name", "Bad", "--practice", "1", "--test", "2", *bad
            )


# -- A Prolific-style link end to end, on a real daphne in headless Chromium ------------------------


@pytest.fixture
def completion_site():
    """A local stand-in for the platform's completion page: records the requests it gets."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b"<html><body><h1 id='platform-complete'>Submission complete</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", hits=hits)
    server.shutdown()
    server.server_close()


def test_a_prolific_link_end_to_end_then_the_benchmark_applies_the_exclusion_rules(tmp_path, completion_site):
    missing = missing_browser()
    if missing:
        pytest.skip(f"needs Chromium and ChromeDriver (`make browser`); missing: {missing}")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    folder = tmp_path / "mapfolder"
    build_study_folder(folder)
    (tmp_path / "check.json").write_text(json.dumps(CHECK))
    with live_server(tmp_path, [(folder, "Study map")]) as live:
        env = server_env(tmp_path)
        out = manage(
            env, "create_study", "study-map", "--name", "Prolific run", "--practice", "1", "--test", "2",
            "--catch-trials", "1", "--comprehension-file", str(tmp_path / "check.json"),
            "--completion-url", f"{completion_site.url}/submissions/complete?cc=GEO123",
            "--completion-code", "GEO123",
            "--exclude", "unfinished=true", "--exclude", "max_failed_catch_trials=0",
        )  # fmt: skip
        link = re.search(r"link: (\S+)", out)[1] + "?" + urllib.parse.urlencode(PROLIFIC)

        with headless_chromium(tmp_path / "profile") as driver:
            wait = WebDriverWait(driver, 30)
            try:
                driver.get(live.url + link)
                driver.find_element(By.ID, "consent").click()
                Select(driver.find_element(By.ID, "check-0")).select_by_visible_text("yes")  # wrong
                driver.find_element(By.ID, "start-study").click()
                wait.until(
                    ec.text_to_be_present_in_element((By.ID, "form-error"), "read the instructions again")
                )
                assert "PROLIFIC_PID=" in driver.current_url  # the ids ride along
                assert driver.find_element(By.ID, "consent").is_selected()  # kept from the first try
                Select(driver.find_element(By.ID, "check-0")).select_by_visible_text("no")
                driver.find_element(By.ID, "start-study").click()
                catch_seen = False
                for trial in range(4):
                    label = "Practice 1 / 1" if trial == 0 else f"Test {trial} / 3"
                    wait.until(ec.text_to_be_present_in_element((By.ID, "phase-label"), label))
                    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#city-choices .city-choice")))
                    prompt = driver.find_element(By.ID, "city-prompt").text
                    buttons = driver.find_elements(By.CSS_SELECTOR, "#city-choices .city-choice")
                    match = re.search(r"pick \u201c(.+)\u201d", prompt)
                    if match:
                        catch_seen = True
                        next(b for b in buttons if b.get_attribute("data-city") == match[1]).click()
                    else:
                        buttons[0].click()
                    wait.until(ec.visibility_of_element_located((By.ID, "result")))
                    button = "summary-link" if trial in (0, 3) else "next-round"
                    wait.until(ec.element_to_be_clickable((By.ID, button))).click()
                    if trial == 0:
                        wait.until(ec.element_to_be_clickable((By.ID, "start-test"))).click()
                assert catch_seen
                wait.until(ec.presence_of_element_located((By.ID, "study-done")))
                assert driver.find_element(By.ID, "completion-code").text == "GEO123"
                pid = driver.find_element(By.ID, "participant-id").text
                driver.find_element(By.ID, "completion-link").click()
                wait.until(ec.presence_of_element_located((By.ID, "platform-complete")))
            except BaseException:
                print(f"--- daphne log ---\n{live.log()[-20000:]}")
                for entry in driver.get_log("browser"):
                    print(entry["level"], entry["message"])
                raise
        assert [h for h in completion_site.hits if h != "/favicon.ico"] == ["/submissions/complete?cc=GEO123"]

        # Two more over HTTP: one fails the catch trial, one stops after the practice.
        def take_part(prolific_pid, fail_catch, stop_after):
            session = Session(live.url)
            query = urllib.parse.urlencode({**PROLIFIC, "PROLIFIC_PID": prolific_pid})
            url, _ = session.post_form(f"{link.split('?')[0]}?{query}", {"consent": "yes", "check_0": "no"})
            token = re.search(r"/study/r/([A-Za-z0-9_-]{43})/$", url)[1]
            status, st = session.api(f"/api/study/r/{token}/")
            for trial in range(stop_after):
                city = instructed(st)
                pick = next(c for c in st["candidates"] if c != city) if city and fail_catch else city
                status, _ = session.api(st["round"]["guess_url"], {"city": pick or st["candidates"][0]})
                assert status == 201
                if trial == 0:
                    session.post_form(f"/study/r/{token}/test/", {})
                    status, st = session.api(f"/api/study/r/{token}/")
                else:
                    status, st = session.api(f"/api/study/r/{token}/next/", {})

        take_part("a" * 24, fail_catch=True, stop_after=4)
        take_part("b" * 24, fail_catch=False, stop_after=1)

        out = manage(env, "benchmark", "study-map", "--study", "prolific-run", "--players", "random",
                     "--bootstrap", "100")  # fmt: skip
        report_id = re.search(r"report: /benchmarks/([0-9a-f-]{36})/", out)[1]
        report = json.loads((tmp_path / "media" / "reports" / report_id / "report.json").read_text())
    exclusions = report["exclusions"]
    assert (exclusions["participants"], exclusions["excluded"], exclusions["included"]) == (3, 2, 1)
    assert {r["rule"]: r["participants"] for r in exclusions["by_rule"]} == {
        "unfinished": 1,
        "max_failed_catch_trials": 1,
    }
    humans = next(m for m in report["methods"] if m["method"] == "humans")
    assert humans["participants"] == 1 and humans["n"] == 2  # the browser's two test locations, no catch
    table = {p["participant"]: p for p in report["participants"]}
    assert table[pid]["excluded_by"] == [] and sorted(len(p["excluded_by"]) for p in table.values()) == [
        0,
        1,
        1,
    ]
