import json

from django.core.management.base import BaseCommand, CommandError

from geogame.maps.models import Location, Map
from inference.artefacts import ArtefactError
from inference.evaluation import evaluate_players, format_table
from inference.players import PlayerUnavailable
from inference.registry import PLAYERS, UnknownPlayer


class Command(BaseCommand):
    help = "Evaluate machine players on a split of a map: accuracy, median km, mean points, % within km."

    def add_arguments(self, parser):
        parser.add_argument("map", help="map slug")
        parser.add_argument("--split", choices=[s for s, _ in Location.SPLIT_CHOICES], default=Location.TEST)
        parser.add_argument("--players", default=",".join(PLAYERS), help="comma-separated (default: all)")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print JSON rows instead of a table"
        )

    def handle(self, *args, map, split, players, as_json, **options):
        m = Map.objects.filter(slug=map).first()
        if m is None:
            raise CommandError(f"unknown map {map!r}")
        names = [n.strip() for n in players.split(",") if n.strip()]
        try:
            rows = evaluate_players(m, names, split=split)
        except (UnknownPlayer, ValueError, ArtefactError, PlayerUnavailable) as exc:
            raise CommandError(str(exc)) from None
        if as_json:
            self.stdout.write(json.dumps(rows, indent=1))
        else:
            self.stdout.write(f"map {m.slug}, split {split}\n" + format_table(rows))
