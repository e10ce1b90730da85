from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from geogame.maps import hooks
from geogame.maps.management.commands.import_map import split_counts_text
from geogame.maps.models import Location, Map
from geogame.maps.rules import assign_split, parse_split_fractions, split_fractions


class Command(BaseCommand):
    help = (
        "Split a map's locations again by new fractions (a seeded hash of each location, as at import). "
        "Every location is re-drawn, also those whose manifest named a split. Refused while a trained "
        "player of the map exists, unless --force: its held-out locations would move into play."
    )

    def add_arguments(self, parser):
        parser.add_argument("map", help="the map's slug")
        parser.add_argument("--splits", required=True, help="e.g. train=0.6,val=0.15,test=0.1,play=0.15")
        parser.add_argument("--seed", type=int, default=None, help="split seed (default GEOGAME_SPLIT_SEED)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="resplit although trained players exist (they keep playing only what they never trained on: "
            "their artefacts record their own train and val locations)",
        )

    def handle(self, map, splits, seed, force, **options):
        m = Map.objects.filter(slug=map).first()
        if m is None:
            raise CommandError(f"no map {map!r}")
        try:
            fractions = parse_split_fractions(splits)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        trained = sum(count(m) for count in hooks.split_holders)  # trained player versions (inference)
        if trained and not force:
            raise CommandError(
                f"map {m.slug} has {trained} trained player version(s); resplitting moves locations they "
                "trained on into other splits. Retrain afterwards, and pass --force to resplit anyway."
            )
        seed = settings.GEOGAME_SPLIT_SEED if seed is None else seed
        ordered = split_fractions(fractions)
        with transaction.atomic():
            m = Map.objects.select_for_update().get(id=m.id)
            moved = 0
            for loc in Location.objects.filter(map=m).only("id", "source", "source_id", "split"):
                split = assign_split(f"{loc.source}:{loc.source_id}", seed, ordered)
                if split != loc.split:
                    Location.objects.filter(id=loc.id).update(split=split)
                    moved += 1
            m.split_fractions = fractions
            m.save(update_fields=["split_fractions"])
        self.stdout.write(f"map {m.slug}: {moved} locations moved; splits {split_counts_text(m)}")
