"""The clip player on a Hugging Face transformers CLIP checkpoint: a tiny randomly initialised
CLIPModel, saved to a folder with its tokenizer and image processor (nothing downloaded)."""

import numpy as np
import pytest
import torch
from PIL import Image

from inference import clip_zeroshot

LABELS = [("Stuttgart", "Germany"), ("Orleans", "France"), ("Aurora", "Canada")]


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    from inference.compat import import_transformers

    transformers = import_transformers()

    folder = tmp_path_factory.mktemp("hf-clip")
    words = {
        w.strip(".,").lower()
        for city, country in LABELS
        for p in clip_zeroshot.label_prompts(city, country)
        for w in p.split()
    }
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, **{w: i + 3 for i, w in enumerate(sorted(words))}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]", model_max_length=32
    )
    tokenizer.save_pretrained(folder)
    text = dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1)
    text.update(
        num_attention_heads=2, max_position_embeddings=32, eos_token_id=2, bos_token_id=2, pad_token_id=0
    )
    vision = dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32)
    vision.update(num_hidden_layers=1, num_attention_heads=2)
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)
    torch.manual_seed(0)
    model = transformers.CLIPModel(config)
    model.save_pretrained(folder)
    transformers.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder, model.state_dict()


def photo(seed):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_a_transformers_checkpoint_folder_loads_with_its_weights(hf_folder):
    folder, saved = hf_folder
    assert clip_zeroshot.is_hf_folder(folder) and clip_zeroshot.looks_like_path(str(folder))
    clip = clip_zeroshot.load_clip("ignored-for-a-folder", folder)
    loaded = clip.model.model.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in saved.items())
    assert not clip.model.training


def test_it_scores_views_against_the_labels_as_the_open_clip_one_does(hf_folder):
    clip = clip_zeroshot.load_clip("", hf_folder[0])
    text = clip_zeroshot.encode_labels(clip.model, clip.tokenizer, LABELS)
    assert text.shape == (3, 8) and torch.allclose(text.norm(dim=-1), torch.ones(3), atol=1e-5)
    probs = clip_zeroshot.zero_shot_probs(
        clip.model,
        clip.tokenizer,
        clip.preprocess,
        [[photo(1), photo(2)], [photo(3)]],
        LABELS,
        text_features=text,
    )
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1.0)
    # The same as scoring each view by hand and averaging the logits before the softmax.
    with torch.no_grad():
        views = torch.stack([clip.preprocess(photo(1)), clip.preprocess(photo(2))])
        logits = clip.model.logit_scale.exp() * clip.model.encode_image(views, normalize=True) @ text.T
    assert np.allclose(probs[0], logits.mean(0).softmax(-1).numpy(), atol=1e-5)


def test_a_hub_id_without_network_says_so(monkeypatch, tmp_path):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(clip_zeroshot.ClipUnavailable) as err:
        clip_zeroshot.load_clip("", "hf:geolocal/StreetCLIP")
    assert "geolocal/StreetCLIP" in err.value.reason and "cannot be reached" in err.value.reason
    assert "set GEOGAME_CLIP_PRETRAINED to that folder" in err.value.reason


def test_a_folder_without_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(clip_zeroshot.ClipUnavailable, match="could not load the CLIP checkpoint"):
        clip_zeroshot.load_clip("", tmp_path)


@pytest.mark.django_db
def test_the_clip_player_plays_with_a_transformers_folder(hf_folder, trainable_map, settings):
    from geogame.maps.models import Location
    from inference import registry

    settings.GEOGAME_CLIP_PRETRAINED = str(hf_folder[0])
    registry._load.cache_clear()
    assert registry.availability("clip", trainable_map) is None
    preds = registry.load_player("clip", trainable_map).predict(list(Location.objects.filter(split="test")))
    labels = {f"{loc.city}, {loc.country}" for loc in Location.objects.filter(map=trainable_map)}
    assert len(preds) == 3 and all(p.city in labels and 0 < p.details["confidence"] <= 1 for p in preds)
    registry._load.cache_clear()
