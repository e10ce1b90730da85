from django.apps import AppConfig


def tune_allocator_for_the_model(**kwargs):
    """Before the pool's threads start: they keep the malloc arena they start with."""
    from .runtime import tune_allocator

    tune_allocator()


class InferenceConfig(AppConfig):
    """Machine players. They plug into the game here; the game never imports inference."""

    name = "inference"

    def ready(self):
        from celery.signals import worker_init

        from geogame.common import health
        from geogame.game import machines
        from geogame.maps import hooks as map_hooks

        from . import registry, services
        from .health import check_artefacts
        from .models import TrainedModel
        from .preprocessing import MODEL_INPUT_SUFFIX, model_input_npy

        machines.register(
            machines.MachinePlayers(
                names=lambda: list(registry.PLAYERS),
                description=lambda name: registry.player_class(name).description,
                availability=registry.availability,
                excluded_location_ids=registry.excluded_location_ids,
                machine_player_get=services.machine_player_get,
                title=lambda name: registry.player_class(name).title,
                blurb=lambda name: registry.player_class(name).blurb,
                artefact=registry.artefact,
            )
        )
        map_hooks.register_view_file(MODEL_INPUT_SUFFIX, model_input_npy)
        map_hooks.register_split_holder(
            lambda m: TrainedModel.objects.filter(map=m, status=TrainedModel.READY).count()
        )
        health.register_check("artefacts", check_artefacts, needs_database=True)
        worker_init.connect(tune_allocator_for_the_model)
