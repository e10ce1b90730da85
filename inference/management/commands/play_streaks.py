from django.core.management.base import BaseCommand, CommandError

from geogame.maps.commands import map_for_command
from inference.streaks import StreakPlayError, machine_streak, streak_players

MAX_STREAKS = 100


class Command(BaseCommand):
    help = (
        "Machine players play country streaks on MAP: each answers with the country of its pin, on "
        "places it never learned from; their streaks go on the streak leaderboard (docs/streaks.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("map", help="the map's slug")
        parser.add_argument("--streaks", default="1", help=f"streaks per player, 1-{MAX_STREAKS} (default 1)")
        parser.add_argument(
            "--players", default="", help="comma-separated machine players (default: all that can play MAP)"
        )

    def handle(self, *args, map, streaks, players, **options):
        m = map_for_command(map)
        try:
            count = int(streaks)
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_STREAKS:
            raise CommandError(
                f"--streaks must be a whole number from 1 to {MAX_STREAKS}, got {streaks[:40]!r}"
            )
        names = [n.strip() for n in players.split(",") if n.strip()]
        try:
            for name in streak_players(m, names):
                for _ in range(count):
                    streak = machine_streak(name, m)
                    reason = streak.get_end_reason_display()
                    self.stdout.write(f"{name}: streak of {streak.length} of {streak.max_length} ({reason})")
        except StreakPlayError as exc:
            raise CommandError(str(exc)) from None
