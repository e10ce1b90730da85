from django.core.management.base import BaseCommand, CommandError

from geogame.maps.commands import map_for_command
from inference.calibration import ERR_GAMES, GAMES_MAX, CalibrationError, calibrate

DEFAULT_GAMES = 20


class Command(BaseCommand):
    help = (
        "Seed machine players' ratings on MAP: they play each other (machine-vs-machine duels on places "
        "none of them learned from), and each game is rated (docs/ranked.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("map", help="the map's slug")
        parser.add_argument(
            "--games", default=str(DEFAULT_GAMES), help=f"games to play, 1-{GAMES_MAX} (default 20)"
        )
        parser.add_argument(
            "--players", default="", help="comma-separated machine players (default: all that can play MAP)"
        )

    def handle(self, *args, map, games, players, **options):
        m = map_for_command(map)
        try:
            games = int(games)
        except ValueError:
            raise CommandError(ERR_GAMES.format(games=repr(games)[:40])) from None
        names = [n.strip() for n in players.split(",") if n.strip()] or None

        def report(played):
            a, b = played.players
            outcome = "a draw" if played.winner is None else f"{played.players[played.winner]} wins"
            self.stdout.write(f"{a} vs {b}: {outcome} after {played.rounds} rounds")

        try:
            played = calibrate(m=m, games=games, names=names, on_game=report)
        except CalibrationError as exc:
            raise CommandError(exc.message) from None
        from geogame.ranked.selectors import machine_ratings

        self.stdout.write(f"{len(played)} calibration games on {m.slug}; ratings now:")
        for name, rows in sorted(machine_ratings(m=m).items()):
            for r in rows:
                artefact = f" ({r['artefact']})" if r["artefact"] else ""
                self.stdout.write(f"  {name}{artefact}: {r['rating']} ± {r['deviation']}, {r['games']} games")
