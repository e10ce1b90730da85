import json
import re
from datetime import datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from geogame.game.models import Game
from geogame.game.services import GameError
from geogame.maps.models import Map
from geogame.studies.models import Study
from geogame.studies.rules import instructions_from_text
from geogame.studies.services import DEFAULT_CONSENT, study_create

ERR_CLOSES_AT = (
    "--closes-at {text!r} is not understood; give an ISO date (2027-01-31, midnight at its start), "
    "date and time (2027-01-31T18:00, optionally with an offset like +01:00), or a time from now "
    "(+7d, +12h, +30m)"
)
QUOTA = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.+):(\d{1,7})")
DURATION = re.compile(r"\+(\d{1,5})([dhm])")
MAX_INSTRUCTIONS_FILE_BYTES = 400_000  # 20 pages of 5000 characters, in UTF-8 at worst
DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def aware_datetime(text, now=None):
    """--closes-at: an ISO date or date and time (naive ones in the server's time zone), or a
    duration from now. Raises CommandError with the accepted forms (argparse's `type=` would turn
    a CommandError into a traceback, so handle() calls this)."""
    text = text.strip()
    duration = DURATION.fullmatch(text)
    if duration:
        return (now or timezone.now()) + timedelta(**{DURATION_UNITS[duration[2]]: int(duration[1])})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(ERR_CLOSES_AT.format(text=text)) from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(BaseCommand):
    help = "Create a human-baseline study on a map (seed 003's protocol) and print its link."

    def add_arguments(self, parser):
        parser.add_argument("map", help="the map's slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--mode", choices=[m for m, _ in Game.MODE_CHOICES], default=Game.CITY)
        parser.add_argument("--practice", type=int, default=25, help="practice locations (default 25)")
        parser.add_argument("--test", type=int, default=50, help="test locations (default 50)")
        parser.add_argument("--time-limit", type=int, default=None, help="seconds per location")
        parser.add_argument("--consent-file", type=Path, help="consent text (UTF-8); default: a generic text")
        parser.add_argument("--show-test-answers", action="store_true")
        parser.add_argument("--hide-practice-answers", action="store_true")
        parser.add_argument(
            "--closes-at", help="when the link expires: an ISO date or date and time, or +7d, +12h, +30m"
        )
        parser.add_argument("--seed", type=int, default=None, help="draws the study's locations")
        parser.add_argument("--questions-file", type=Path, help="self-report questions, JSON (docs/study.md)")
        parser.add_argument("--completion-url", default="", help="where a finished participant is sent")
        parser.add_argument("--completion-code", default="", help="the code a finished participant is shown")
        parser.add_argument(
            "--screened-out-url", default="", help="where no-consent and over-quota people go"
        )
        parser.add_argument(
            "--store-raw-ids", action="store_true", help="keep platform ids raw as well as hashed"
        )
        parser.add_argument("--max-participants", type=int, default=None)
        parser.add_argument(
            "--comprehension-file", type=Path, help="comprehension check, JSON (docs/study.md)"
        )
        parser.add_argument(
            "--stratify", action="store_true", help="the same number of test locations from every city"
        )
        parser.add_argument("--debrief-file", type=Path, help="shown after the last trial (UTF-8)")
        parser.add_argument(
            "--catch-trials", type=int, default=0, help="attention checks among the test trials"
        )
        parser.add_argument(
            "--exclude",
            action="append",
            default=[],
            metavar="RULE=VALUE",
            help="a pre-declared exclusion rule",
        )
        parser.add_argument(
            "--order",
            choices=[d for d, _ in Study.ORDER_CHOICES],
            default=Study.LATIN_SQUARE,
            help="test order: a balanced Latin square (default) or random per participant",
        )
        parser.add_argument(
            "--instructions-file",
            type=Path,
            help="instructions pages, plain text (UTF-8), a line of only --- between pages (default: one)",
        )
        parser.add_argument("--bonus-rate", help="bonus per 1000 test points, e.g. 0.10 (docs/study.md)")
        parser.add_argument("--bonus-cap", help="the most one participant's bonus can be, e.g. 2.00")
        parser.add_argument("--bonus-currency", default="", help="the bonus's currency, e.g. GBP or USD")
        parser.add_argument(
            "--quota",
            action="append",
            default=[],
            metavar="QUESTION=CHOICE:N",
            help="per self-reported group",
        )

    def handle(self, **o):
        closes_at = None if o["closes_at"] is None else aware_datetime(o["closes_at"])
        m = Map.objects.filter(slug=o["map"]).first()
        if m is None:
            known = ", ".join(Map.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"no map {o['map']!r}; maps: {known}")
        consent = DEFAULT_CONSENT
        if o["consent_file"]:
            try:
                consent = o["consent_file"].read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read the consent file: {exc}") from None
        questions = None
        if o["questions_file"]:
            try:
                questions = json.loads(o["questions_file"].read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise CommandError(f"cannot read the questions file: {exc}") from None
        debrief = ""
        if o["debrief_file"]:
            try:
                debrief = o["debrief_file"].read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read the debrief file: {exc}") from None
        comprehension = None
        if o["comprehension_file"]:
            try:
                comprehension = json.loads(o["comprehension_file"].read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise CommandError(f"cannot read the comprehension file: {exc}") from None
        instructions = None
        if o["instructions_file"]:
            try:
                if o["instructions_file"].stat().st_size > MAX_INSTRUCTIONS_FILE_BYTES:
                    raise CommandError(
                        f"the instructions file is larger than {MAX_INSTRUCTIONS_FILE_BYTES} bytes"
                    )
                text = o["instructions_file"].read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read the instructions file: {exc}") from None
            instructions = instructions_from_text(text)
            if not instructions:
                raise CommandError("the instructions file has no text: give at least one page")
        exclusion_rules = {}
        for text in o["exclude"]:
            rule, _, value = text.partition("=")
            try:
                exclusion_rules[rule] = json.loads(value)
            except ValueError:
                raise CommandError(
                    f"--exclude {text!r}: give RULE=VALUE, e.g. max_failed_catch_trials=0"
                ) from None
        quotas = {}
        for text in o["quota"]:
            match = QUOTA.fullmatch(text)
            if not match:
                raise CommandError(f"--quota {text!r}: give QUESTION=CHOICE:N, e.g. familiarity=well:30")
            quotas.setdefault(match[1], {})[match[2]] = int(match[3])
        try:
            study = study_create(
                map=m,
                name=o["name"],
                consent_text=consent,
                mode=o["mode"],
                practice_count=o["practice"],
                test_count=o["test"],
                time_limit_s=o["time_limit"],
                answers_after_practice=not o["hide_practice_answers"],
                answers_after_test=o["show_test_answers"],
                closes_at=closes_at,
                seed=o["seed"],
                questions=questions,
                completion_url=o["completion_url"],
                completion_code=o["completion_code"],
                screened_out_url=o["screened_out_url"],
                store_raw_platform_ids=o["store_raw_ids"],
                max_participants=o["max_participants"],
                quotas=quotas,
                comprehension=comprehension,
                catch_count=o["catch_trials"],
                exclusion_rules=exclusion_rules,
                debrief_text=debrief,
                stratify=o["stratify"],
                order_design=o["order"],
                instructions=instructions,
                bonus_rate=o["bonus_rate"],
                bonus_cap=o["bonus_cap"],
                bonus_currency=o["bonus_currency"],
            )
        except GameError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"study '{study.name}' ({study.slug}) on {m.slug}: "
            f"{study.practice_count} practice + {study.test_count} test locations\n"
            f"link: {reverse('study-join', args=[study.link_token])}\n"
            f"staff page: {reverse('staff-study', args=[study.slug])}"
        )
