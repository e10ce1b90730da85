"""Issue 19's design features: the counterbalanced test order (a balanced Latin square, recorded per
participant and exported), configurable instructions pages (before the consent and comprehension
check, with Back and Next, versioned), and staff pilot runs kept out of the data."""

import csv
import io
import json
import re
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from geogame.game.services import GameError
from geogame.studies import rules as study_rules
from geogame.studies import selectors as study_selectors
from geogame.studies import services as study_services
from geogame.studies.models import Participant, Study
from tests.test_study import make_study, play_all


def export(client, study, fmt, query=""):
    response = client.get(reverse("staff-study-export", args=[study.slug, fmt]) + query)
    assert response.status_code == 200, (fmt, response.content[:200])
    return response.content.decode()


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


# -- Counterbalancing: the rule, as plain functions -------------------------------------------------


@pytest.mark.parametrize("n", range(1, 13))
def test_every_row_of_the_square_is_an_order_and_every_item_takes_every_position_equally_often(n):
    square = study_rules.latin_square(n)
    assert len(square) == study_rules.latin_square_rows(n) == (n if n % 2 == 0 else 2 * n)
    for row in square:
        assert sorted(row) == list(range(n))
    for position in range(n):
        counts = Counter(row[position] for row in square)
        assert set(counts) == set(range(n)) and len(set(counts.values())) == 1, (position, counts)
    firsts = Counter(row[0] for row in square)  # a balanced first trial
    assert firsts == {item: len(square) // n for item in range(n)}


@pytest.mark.parametrize("n", [2, 4, 6, 8, 10, 12])
def test_williams_square_puts_each_ordered_pair_side_by_side_exactly_once_for_even_n(n):
    pairs = Counter((row[i], row[i + 1]) for row in study_rules.latin_square(n) for i in range(n - 1))
    assert set(pairs) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert set(pairs.values()) == {1}


@pytest.mark.parametrize("n", [3, 5, 7, 9, 11])
def test_the_pair_of_squares_for_odd_n_puts_each_ordered_pair_side_by_side_twice(n):
    pairs = Counter((row[i], row[i + 1]) for row in study_rules.latin_square(n) for i in range(n - 1))
    assert set(pairs) == {(a, b) for a in range(n) for b in range(n) if a != b}
    assert set(pairs.values()) == {2}


def test_participant_k_gets_row_k_mod_rows_and_random_orders_stay_seeded():
    ids = [40, 10, 30, 20]
    assert study_rules.latin_square_row(4, 5) == study_rules.latin_square_row(4, 1)
    assert study_rules.ordered_test_ids(ids, design="latin_square", participant_seed=9, row=1) == [
        [10, 20, 30, 40][i] for i in study_rules.latin_square_row(4, 1)
    ]
    practice = [1, 2, 3]
    order = study_rules.participant_order(practice, ids, 7, design="latin_square", row=2)
    assert sorted(order[:3]) == practice and order[3:] == [[10, 20, 30, 40][i] for i in [2, 3, 1, 0]]
    assert study_rules.participant_order(practice, ids, 7) == study_rules.participant_order(practice, ids, 7)
    assert len({tuple(study_rules.participant_order(practice, ids, s)[3:]) for s in range(30)}) > 5


# -- Counterbalancing in a study ----------------------------------------------------------------------


def test_participants_take_the_squares_rows_in_turn_and_the_order_served_is_recorded(study_map, staff_client):
    study = make_study(study_map, practice_count=1, test_count=4)
    assert study.order_design == Study.LATIN_SQUARE  # the default
    people = []
    for _ in range(8):
        client = Client()
        client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes"})
        people.append(Participant.objects.order_by("-id").first())
    ids = sorted(study.test_ids)
    for k, p in enumerate(people):
        assert p.order_row == k and p.order_design == "latin_square"
        served = p.game.location_order[1:]
        assert served == [ids[i] for i in study_rules.latin_square_row(4, k)]
    assert Counter(p.game.location_order[1] for p in people) == {i: 2 for i in ids}  # balanced first trial

    table = {r["participant"]: r for r in csv_rows(export(staff_client, study, "participants.csv"))}
    row = table[str(people[5].public_id)]
    assert (row["order_design"], row["order_row"]) == ("latin_square", "5")
    assert row["test_order"] == "|".join(str(i) for i in people[5].game.location_order[1:])
    book = {c["column"]: c for c in json.loads(export(staff_client, study, "codebook.json"))}
    assert {"order_design", "order_row", "test_order"} <= set(book)
    meta = json.loads(export(staff_client, study, "metadata.json"))
    assert (meta["order_design"], meta["latin_square_rows"]) == ("latin_square", 4)


def test_a_random_order_study_records_no_row(study_map):
    study = make_study(study_map, order_design="random")
    Client().post(reverse("study-join", args=[study.link_token]), {"consent": "yes"})
    p = Participant.objects.get()
    assert (p.order_design, p.order_row) == ("random", None)
    assert sorted(p.game.location_order[2:]) == sorted(study.test_ids)


def test_the_order_design_is_set_from_the_command_and_the_form_and_bad_ones_are_refused(
    study_map, staff_client
):
    with pytest.raises(GameError, match="order design"):
        make_study(study_map, order_design="balanced")
    out = io.StringIO()
    call_command(
        "create_study",
        study_map.slug,
        "--name",
        "Cli",
        "--practice",
        "1",
        "--test",
        "3",
        "--order",
        "random",
        stdout=out,
    )
    assert Study.objects.get(slug="cli").order_design == "random"
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_study", study_map.slug, "--name", "Bad", "--order", "sorted")
    form = {"name": "Web", "map": study_map.slug, "practice_count": "1", "test_count": "3"}
    assert staff_client.post(reverse("staff-studies"), form).status_code == 302
    assert Study.objects.get(slug="web").order_design == "latin_square"  # the form's default, as the CLI's
    response = staff_client.post(reverse("staff-studies"), {**form, "name": "Web2", "order_design": "x"})
    assert response.status_code == 400 and b"order design" in response.content
    assert not Study.objects.filter(slug="web2").exists()


# -- Instructions pages ----------------------------------------------------------------------------------


def test_instructions_text_splits_into_pages_and_bad_pages_are_refused():
    text = "Welcome.\n\nSecond paragraph.\n---\nPage two.\r\n---\n\n---\n"
    assert study_rules.instructions_from_text(text) == ["Welcome.\n\nSecond paragraph.", "Page two."]
    assert study_rules.check_instructions(["a", "b"]) == ["a", "b"]
    for pages, words in [
        ([], "1 to 20 pages"),
        (["x"] * 21, "1 to 20 pages"),
        (["x" * 5001], "longer than 5000"),
        (["ok", "nul\x00here"], "page 2 contains an unprintable character (U+0000)"),
        (["  "], "page 1 is empty"),
        ("just text", "1 to 20 pages"),
    ]:
        with pytest.raises(ValueError, match=re.escape(words)):
            study_rules.check_instructions(pages)


def test_the_default_page_is_todays_instructions_with_the_studys_numbers(study_map):
    study = make_study(study_map, practice_count=2, test_count=4, time_limit_s=30)
    assert len(study.instructions) == 1
    words = study.instructions[0]
    assert words.startswith("You will see 2 practice locations, then 4 test locations, each as ")
    assert "pick the city it is in" in words and "30 seconds per location" in words
    assert study_selectors.views_per_location_text(study) in words


def test_instructions_pages_come_before_the_consent_with_back_and_next_and_are_versioned(
    study_map, staff_client
):
    pages = ["Welcome <b>to</b> the study.\n\nRead carefully.", "Page two: <script>x</script>", "Last page."]
    study = make_study(study_map, instructions=pages, comprehension=[
        {"question": "Answers shown in the test?", "choices": ["yes", "no"], "answer": "no"}
    ])  # fmt: skip
    url = reverse("study-join", args=[study.link_token])
    client = Client()
    first = client.get(url + "?pid=abc").content.decode()
    assert "Instructions 1 / 3" in first and "Welcome &lt;b&gt;to&lt;/b&gt; the study.</p>" in first
    assert "<p>Read carefully.</p>" in first
    assert 'id="consent-form"' not in first and 'id="comprehension"' not in first
    assert 'id="instructions-back"' not in first and "page=2" in first and "pid=abc" in first
    second = client.get(url + "?pid=abc&page=2").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in second and "<script>x" not in second
    assert 'id="instructions-back"' in second and 'id="consent-form"' not in second
    last = client.get(url + "?pid=abc&page=3").content.decode()
    assert "Last page." in last and 'id="consent-form"' in last and 'id="comprehension"' in last
    assert 'id="instructions-next"' not in last
    assert client.get(url + "?page=99").status_code == 200 and client.get(url + "?page=x").status_code == 200

    joined = client.post(url + "?pid=abc", {"consent": "yes", "check_0": "no"})
    assert joined.status_code == 302
    sha = study_rules.instructions_sha256(pages)
    assert Participant.objects.get().instructions_sha256 == sha
    meta = json.loads(export(staff_client, study, "metadata.json"))
    assert meta["instructions"] == pages and meta["instructions_sha256"] == sha
    people = csv_rows(export(staff_client, study, "participants.csv"))
    assert people[0]["instructions_sha256"] == sha


def test_instructions_are_set_from_a_file_and_the_form_and_bad_ones_store_nothing(
    study_map, staff_client, tmp_path
):
    good = tmp_path / "instructions.txt"
    good.write_text("One.\n---\nTwo.\n", encoding="utf-8")
    cli = ["create_study", study_map.slug, "--practice", "1", "--test", "3", "--instructions-file"]
    call_command(*cli, str(good), "--name", "Cli", stdout=io.StringIO())
    assert Study.objects.get(slug="cli").instructions == ["One.", "Two."]
    for content, words in [
        ("ok\n---\nbad\x00", "unprintable"),
        ("\n---\n", "no text"),
        ("\n---\n".join(["p"] * 21), "1 to 20 pages"),
    ]:
        bad = tmp_path / "bad.txt"
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(CommandError, match=words):
            call_command(
                "create_study",
                study_map.slug,
                "--name",
                "Bad",
                "--practice",
                "1",
                "--test",
                "3",
                "--instructions-file",
                str(bad),
            )
    with pytest.raises(CommandError, match="cannot read the instructions file"):
        call_command(
            "create_study", study_map.slug, "--name", "Bad", "--instructions-file", str(tmp_path / "none.txt")
        )
    assert not Study.objects.filter(slug="bad").exists()

    form = {"name": "Web", "map": study_map.slug, "practice_count": "1", "test_count": "3"}
    ok = staff_client.post(reverse("staff-studies"), {**form, "instructions": "First.\r\n---\r\nSecond."})
    assert ok.status_code == 302 and Study.objects.get(slug="web").instructions == ["First.", "Second."]
    for text, words in [
        ("a\x00b", b"unprintable"),
        ("x" * 5001, b"longer than 5000"),
        ("y" * 200_000, b"at most"),
    ]:
        response = staff_client.post(
            reverse("staff-studies"), {**form, "name": "Web bad", "instructions": text}
        )
        assert response.status_code == 400 and words in response.content
    assert not Study.objects.filter(slug="web-bad").exists()


# -- Pilot runs --------------------------------------------------------------------------------------------


def test_only_staff_may_pilot_and_a_pilot_run_stays_out_of_the_data(study_map, staff_client):
    study = make_study(study_map, practice_count=1, test_count=2, max_participants=1)
    pilot_url = reverse("study-join", args=[study.link_token]) + "?pilot=1"
    stranger = Client()
    refused = stranger.post(pilot_url, {"consent": "yes"})
    assert refused.status_code == 403 and b"pilot link is for the study" in refused.content
    assert not Participant.objects.exists()

    page = staff_client.get(reverse("staff-study", args=[study.slug])).content.decode()
    assert pilot_url in page.replace("&amp;", "&")
    study_services.study_set_status(study, Study.PAUSED)  # a pilot runs before the study opens, too
    assert staff_client.post(pilot_url, {"consent": "yes"}).status_code == 302
    pilot = Participant.objects.get()
    assert pilot.pilot and pilot.order_row == 0
    play_all(staff_client, pilot)
    assert staff_client.post(pilot_url, {"consent": "yes"}).status_code == 302  # again: no repeat block
    assert Participant.objects.filter(pilot=True).count() == 2
    study_services.study_set_status(study, Study.OPEN)

    # A real participant still gets the first row and the only place (the pilots count in no quota).
    real_client = Client()
    assert (
        real_client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes"}).status_code
        == 302
    )
    real = Participant.objects.get(pilot=False)
    assert real.order_row == 0
    play_all(real_client, real)
    full = Client().post(reverse("study-join", args=[study.link_token]), {"consent": "yes"})
    assert full.status_code == 409

    study.refresh_from_db()
    for fmt in ("csv", "participants.csv", "deidentified.csv"):
        rows = csv_rows(export(staff_client, study, fmt))
        assert {r["participant"] for r in rows} in ({str(real.public_id)}, {"P001"}), fmt
        assert all(r["pilot"] == "False" for r in rows)
    with_pilots = csv_rows(export(staff_client, study, "participants.csv", "?pilot=1"))
    assert sorted(r["pilot"] for r in with_pilots) == ["False", "True", "True"]
    assert {r["participant"] for r in csv_rows(export(staff_client, study, "csv", "?pilot=1"))} == {
        str(real.public_id),
        str(pilot.public_id),
    }
    counts = study_selectors.study_counts(study)
    assert (counts["consented"], counts["finished"], counts["pilot"]) == (1, 1, 2)
    assert study_selectors.study_progress(study)["participants"] == 1
    listed = next(s for s in study_selectors.staff_study_list() if s.id == study.id)
    assert (listed.participant_count, listed.finished_count) == (1, 1)
    assert [r["participant"] for r in study_selectors.payment_rows(study)] == [str(real.public_id)]
    audit = list(study.audit_events.values_list("detail", flat=True))
    assert "participants.csv with pilots" in audit

    from geogame.benchmarks.models import BenchmarkReport

    args = ["benchmark", study_map.slug, "--study", study.slug, "--players", "random", "--bootstrap", "100"]
    call_command(*args, stdout=io.StringIO())
    report = BenchmarkReport.objects.get()
    assert [p["participant"] for p in report.data["participants"]] == [str(real.public_id)]
    assert report.provenance["study"]["participants"] == 1
    call_command(*args, "--include-pilot", stdout=io.StringIO())
    with_pilot = BenchmarkReport.objects.order_by("-id").first()
    assert len(with_pilot.data["participants"]) == 3 and with_pilot.provenance["study"]["include_pilot"]

    # A pilot who withdraws leaves the CONSORT counts and the reports as they were.
    before = report.data
    staff_client.post(reverse("study-withdraw", args=[pilot.resume_token]))
    report.refresh_from_db()
    assert report.superseded_at is None and report.data == before
    assert Study.objects.get(id=study.id).withdrawn_count == 0
