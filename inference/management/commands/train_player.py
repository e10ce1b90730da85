from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from geogame.maps.commands import map_for_command
from inference.artefacts import ArtefactError
from inference.registry import LEARNED
from inference.training import TrainingError, train, trained_model_create


class Command(BaseCommand):
    help = "Train a learned machine player on a map's train split (early-stopped on val) and register it."

    def add_arguments(self, parser):
        parser.add_argument("map", help="map slug")
        parser.add_argument("--player", required=True, choices=LEARNED)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, map, player, seed, no_progress, **options):
        m = map_for_command(map)
        bar = tqdm(
            desc=f"training {player}", unit="epoch", disable=no_progress or None, file=self.stderr._out
        )

        def progress(row):
            bar.update(1)
            bar.set_postfix(val_loss=f"{row['val_loss']:.3f}")

        try:
            tm = train(trained_model_create(m=m, name=player), seed=seed, progress=progress)
        except (TrainingError, ArtefactError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        val = tm.metrics["val"]
        figures = ", ".join(f"{k} {v:.3g}" for k, v in val.items() if isinstance(v, float))
        self.stdout.write(
            f"{player} v{tm.version} on {m.slug}: best epoch {tm.metrics['best_epoch']} of "
            f"{tm.metrics['epochs_run']}; val: {figures}\nartefact: {tm.directory}"
        )
