"""create_study --closes-at: the forms it accepts, and a one-line error for any other."""

import io
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from geogame.studies.management.commands.create_study import ERR_CLOSES_AT, aware_datetime
from geogame.studies.models import Study
from tests.conftest import REPO

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=timezone.get_fixed_timezone(0))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("+7d", NOW + timedelta(days=7)),
        ("+12h", NOW + timedelta(hours=12)),
        ("+30m", NOW + timedelta(minutes=30)),
        ("2027-01-31T18:00+01:00", datetime(2027, 1, 31, 17, 0, tzinfo=timezone.get_fixed_timezone(0))),
    ],
)
def test_durations_and_iso_times_are_accepted(text, expected):
    assert aware_datetime(text, now=NOW) == expected


def test_a_naive_date_is_midnight_in_the_servers_time_zone():
    value = aware_datetime("2027-01-31")
    assert timezone.is_aware(value)
    assert timezone.localtime(value).replace(tzinfo=None) == datetime(2027, 1, 31)


@pytest.mark.parametrize("text", ["tomorrow", "+7", "+7w", "7d", "2027-13-01", ""])
def test_anything_else_is_a_command_error_listing_the_accepted_forms(text):
    with pytest.raises(CommandError, match=r"is not understood; give an ISO date .*\+7d, \+12h, \+30m"):
        aware_datetime(text)


@pytest.mark.django_db
def test_the_command_takes_a_duration_and_refuses_tomorrow(study_map):
    args = [study_map.slug, "--practice", "1", "--test", "2"]
    call_command("create_study", *args, "--name", "Week", "--closes-at", "+7d", stdout=io.StringIO())
    closes = Study.objects.get(slug="week").closes_at
    assert timedelta(days=7) - timedelta(minutes=5) < closes - timezone.now() <= timedelta(days=7)
    with pytest.raises(CommandError, match="'tomorrow' is not understood"):
        call_command("create_study", *args, "--name", "Late", "--closes-at", "tomorrow")
    assert not Study.objects.filter(name="Late").exists()


def test_from_the_command_line_the_error_is_one_line_without_a_traceback():
    """The reported traceback came from argparse's type= hook, before the command's own error
    handling; the value is now parsed first thing in handle(), before the database is used."""
    result = subprocess.run(
        [sys.executable, "manage.py", "create_study", "any-map", "--name", "x", "--closes-at", "tomorrow"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["CommandError: " + ERR_CLOSES_AT.format(text="tomorrow")]
