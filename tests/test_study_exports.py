"""A study's exports beyond the answers: the participant-level table, the study metadata file, the
machine-readable codebook, the de-identified answers, CONSORT-style counts, the staff audit log of
exports, deletions and status changes, and the debrief page."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from geogame.studies.models import StudyAuditEvent
from tests.test_study import answer, make_study, next_state, state

PROLIFIC = "?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&STUDY_ID=60aa11bb22cc33dd44ee55ff&SESSION_ID=s1"


@pytest.fixture
def staff(db):
    User.objects.create_user("auditor", password="pw-audit-1", is_staff=True)
    client = Client()
    assert client.login(username="auditor", password="pw-audit-1")
    return client


def export(staff, study, fmt):
    response = staff.get(reverse("staff-study-export", args=[study.slug, fmt]))
    assert response.status_code == 200, (fmt, response.content[:200])
    assert f'.{fmt}"' in response["Content-Disposition"]
    return response.content.decode()


def take_part(study, query="", finish=True, **fields):
    from geogame.studies.models import Participant

    client = Client()
    url = reverse("study-join", args=[study.link_token]) + query
    assert client.post(url, {"consent": "yes", **fields}).status_code == 302
    participant = Participant.objects.order_by("-id").first()
    st = state(client, participant)
    for _ in range(study.practice_count + study.test_count if finish else 1):
        assert answer(client, participant, st).status_code == 201
        st = next_state(client, participant)
    return client, participant


def test_participant_table_metadata_codebook_and_deidentified_answers(study_map, staff):
    study = make_study(
        study_map,
        practice_count=1,
        test_count=2,
        store_raw_platform_ids=True,
        debrief_text="We study recall.",
    )
    _, done = take_part(study, PROLIFIC, q_familiarity="well")
    _, halfway = take_part(study, "?pid=second", finish=False)
    withdrawn_client, withdrawn = take_part(study, "?pid=third", finish=False)
    assert withdrawn_client.post(reverse("study-withdraw", args=[withdrawn.resume_token])).status_code == 200

    people = {
        r["participant"]: r for r in csv.DictReader(io.StringIO(export(staff, study, "participants.csv")))
    }
    assert set(people) == {str(done.public_id), str(halfway.public_id)}
    mine = people[str(done.public_id)]
    assert (mine["status"], mine["platform"], mine["q_familiarity"], mine["answered"]) == (
        "finished", "prolific", "well", "3"
    )  # fmt: skip
    assert json.loads(mine["platform_ids"])["PROLIFIC_PID"] == "5f1e2d3c4b5a69788796a5b4"
    assert len(mine["consent_sha256"]) == 64 and mine["finished_at"] and mine["test_started_at"]
    assert (
        people[str(halfway.public_id)]["status"] == "started"
        and not people[str(halfway.public_id)]["finished_at"]
    )

    meta = json.loads(export(staff, study, "metadata.json"))
    assert meta["consent_text"] == study.consent_text and meta["test_ids"] == study.test_ids
    assert meta["counts"] == {
        "consented": 3, "started": 2, "finished": 1, "not_finished": 1, "withdrawn": 1, "pilot": 0
    }  # fmt: skip
    assert meta["software"]["name"] == "geogame" and meta["software"]["version"] != "unknown"
    assert meta["debrief_text"] == "We study recall." and meta["questions"] == study.questions

    book = json.loads(export(staff, study, "codebook.json"))
    by_column = {(c["table"], c["column"]): c for c in book}
    assert by_column[("answers", "distance_km")]["unit"] == "km"
    assert by_column[("answers", "time_taken_s")]["type"] == "number"
    assert by_column[("answers", "correct")]["type"] == "boolean"
    assert by_column[("participants", "joined_at")]["type"] == "datetime"
    answers_header = next(csv.reader(io.StringIO(export(staff, study, "csv"))))
    assert [c for t, c in by_column if t == "answers"] == answers_header

    plain = export(staff, study, "deidentified.csv")
    rows = list(csv.DictReader(io.StringIO(plain)))
    assert {r["participant"] for r in rows} == {"P001", "P002"}
    for secret in (str(done.public_id), str(halfway.public_id), done.resume_token):
        assert secret not in plain
    assert not {"started_at", "answered_at", "screen_w", "screen_h"} & set(rows[0])

    response = staff.get(reverse("staff-study-export", args=[study.slug, "xml"]))
    assert response.status_code == 404


def test_every_export_deletion_and_status_change_is_in_the_audit_log(study_map, staff):
    study = make_study(study_map, practice_count=1, test_count=2)
    _, participant = take_part(study, finish=False)
    assert Client().get(reverse("staff-study-export", args=[study.slug, "csv"])).status_code == 302  # login
    assert not StudyAuditEvent.objects.exists()
    export(staff, study, "csv")
    export(staff, study, "deidentified.csv")
    staff.post(
        reverse("staff-study-withdraw", args=[study.slug]), {"participant": str(participant.public_id)}
    )
    staff.post(
        reverse("staff-study-withdraw", args=[study.slug]), {"participant": "nobody"}
    )  # 404: not logged
    staff.post(reverse("staff-study-status", args=[study.slug]), {"status": "paused"})
    events = list(StudyAuditEvent.objects.order_by("id").values_list("staff_user", "action", "detail"))
    assert events == [
        ("auditor", "export", "csv"),
        ("auditor", "export", "deidentified.csv"),
        ("auditor", "delete", str(participant.public_id)),
        ("auditor", "status", "paused"),
    ]
    page = staff.get(reverse("staff-study", args=[study.slug])).content.decode()
    assert 'id="audit"' in page and "deidentified.csv" in page
    assert "withdrawn 1." in page and "Consented 1 " in page


def test_the_debrief_is_shown_after_the_last_trial_as_text(study_map):
    study = make_study(
        study_map, practice_count=0, test_count=2, debrief_text="<b>Thanks</b>: we study recall."
    )
    client, participant = take_part(study)
    page = client.get(reverse("study-done", args=[participant.resume_token])).content.decode()
    assert 'id="debrief"' in page and "&lt;b&gt;Thanks&lt;/b&gt;: we study recall." in page
