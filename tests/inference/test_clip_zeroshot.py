import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inference import clip_zeroshot
from inference.compat import import_open_clip

TINY = "geogame-test-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}
LABELS = [("Stuttgart", "Germany"), ("Orleans", "France"), ("Aurora", "Canada")]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random-weight CLIP saved as a plain state dict, as a real checkpoint would be."""
    open_clip = import_open_clip()
    directory = tmp_path_factory.mktemp("clip")
    (directory / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(directory / f"{TINY}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(100.0))  # CLIP's trained scale; it makes the views' logits far apart
    path = directory / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


@pytest.fixture(scope="module")
def clip(checkpoint):
    return clip_zeroshot.load_clip(TINY, checkpoint[0])


def photo(seed):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_a_local_checkpoint_loads_with_its_weights_in_eval_mode(checkpoint, clip):
    _, saved = checkpoint
    loaded = clip.model.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in saved.items())
    assert not clip.model.training


def test_every_prompt_names_the_city_and_the_country():
    prompts = clip_zeroshot.label_prompts("Orleans", "France")
    assert len(prompts) == len(set(prompts)) >= 3
    assert all("Orleans, France" in prompt for prompt in prompts)


def test_a_label_embedding_is_the_normalised_mean_of_its_prompt_embeddings(clip):
    features = clip_zeroshot.encode_labels(clip.model, clip.tokenizer, LABELS)
    assert features.shape == (3, TINY_CONFIG["embed_dim"])
    assert torch.allclose(features.norm(dim=-1), torch.ones(3), atol=1e-5)
    with torch.no_grad():
        prompts = clip.model.encode_text(
            clip.tokenizer(clip_zeroshot.label_prompts(*LABELS[1])), normalize=True
        )
    assert torch.allclose(features[1], torch.nn.functional.normalize(prompts.mean(0), dim=0), atol=1e-5)


def test_zero_shot_gives_one_distribution_per_location(clip):
    probs = clip_zeroshot.zero_shot_probs(
        clip.model, clip.tokenizer, clip.preprocess, [[photo(0)], [photo(1), photo(2)], [photo(3)]], LABELS
    )
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert not np.allclose(np.log(probs[0]), np.log(probs[2]))


def test_views_are_combined_by_averaging_logits_before_the_softmax(clip):
    def probs(locations):
        return clip_zeroshot.zero_shot_probs(clip.model, clip.tokenizer, clip.preprocess, locations, LABELS)

    singles = probs([[photo(4)], [photo(5)]])
    together = probs([[photo(4), photo(5)]])[0]
    # softmax(mean of logits) is the renormalised geometric mean of the per-view softmaxes.
    # Compared as log-probabilities, as some of them are tiny.
    geometric = np.sqrt(singles[0] * singles[1])
    assert np.allclose(np.log(together), np.log(geometric / geometric.sum()), atol=1e-3)
    assert not np.allclose(np.log(together), np.log(singles.mean(0)), atol=0.1)


def test_precomputed_label_embeddings_give_the_same_answer(clip):
    text = clip_zeroshot.encode_labels(clip.model, clip.tokenizer, LABELS)
    locations = [[photo(6)], [photo(7)]]
    args = (clip.model, clip.tokenizer, clip.preprocess, locations, LABELS)
    assert np.allclose(
        clip_zeroshot.zero_shot_probs(*args, text_features=text), clip_zeroshot.zero_shot_probs(*args)
    )


def test_a_missing_checkpoint_file_is_reported_as_unavailable(tmp_path):
    missing = tmp_path / "StreetCLIP.pt"
    with pytest.raises(clip_zeroshot.ClipUnavailable, match="checkpoint file not found") as raised:
        clip_zeroshot.load_clip("ViT-L-14-336", missing)
    assert str(missing) in raised.value.reason


def test_a_corrupt_checkpoint_is_reported_as_unavailable(tmp_path, checkpoint):
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(clip_zeroshot.ClipUnavailable, match="could not load CLIP"):
        clip_zeroshot.load_clip(TINY, corrupt)


def test_weights_for_another_architecture_are_reported_as_unavailable(checkpoint):
    with pytest.raises(clip_zeroshot.ClipUnavailable, match="could not load CLIP ViT-S-32"):
        clip_zeroshot.load_clip("ViT-S-32", checkpoint[0])
