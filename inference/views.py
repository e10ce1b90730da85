"""Staff pages for a map's machine players: start training, watch progress."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from geogame.common import background
from geogame.game.selectors import machine_opponents
from geogame.maps.models import Map

from .models import TrainedModel
from .registry import LEARNED
from .training import TrainingError, trained_model_create, trained_models_fail_stale


def _models_json(m):
    trained_models_fail_stale(m=m)
    return [
        {
            "player": tm.player_name,
            "version": tm.version,
            "status": tm.status,
            "progress": round(tm.progress, 3),
            "error": tm.error,
            "metrics": tm.metrics,
            "created_at": tm.created_at.isoformat(),
        }
        for tm in TrainedModel.objects.filter(map=m)
    ]


@staff_member_required
@require_http_methods(["GET", "POST"])
def map_players(request, slug):
    m = get_object_or_404(Map, slug=slug)
    trained_models_fail_stale(m=m)  # a run whose worker died shows as failed, not training
    error = None
    if request.method == "POST":
        try:
            tm = trained_model_create(m=m, name=request.POST.get("player", ""))
            background.enqueue("inference.train_player", tm.id)
            return redirect("map-players", slug=m.slug)
        except TrainingError as exc:
            error = str(exc)
    return render(
        request,
        "inference/map_players.html",
        {
            "map": m,
            "learned": LEARNED,
            "models": TrainedModel.objects.filter(map=m),
            "opponents": machine_opponents(m),
            "error": error,
        },
        status=400 if error else 200,
    )


@staff_member_required
@require_GET
def map_players_status(request, slug):
    m = get_object_or_404(Map, slug=slug)
    return JsonResponse({"map": m.slug, "models": _models_json(m)})
