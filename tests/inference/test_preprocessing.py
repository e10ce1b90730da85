"""The stored model input gives the backbone exactly the tensor the view's JPEG gives it."""

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from geogame.maps.images import encode_jpeg
from harness.fixture_map import make_image_bytes
from inference import preprocessing


def view_jpeg(size, seed=0):
    """A view as the importer stores it: a re-encoded, metadata-free JPEG."""
    return encode_jpeg(Image.open(io.BytesIO(make_image_bytes(size=size, seed=seed))))


@pytest.mark.parametrize("size", [(768, 768), (1024, 683), (480, 640), (301, 199), (200, 130)])
def test_the_model_input_preprocesses_to_the_same_tensor_as_the_view(size):
    jpeg = view_jpeg(size)
    stored = preprocessing.model_input_npy(jpeg)
    image = preprocessing.model_input_image(stored)
    assert min(image.size) == preprocessing.SHORT_SIDE
    expected = preprocessing.preprocess(preprocessing.decode_view(jpeg))
    assert expected.shape == (3, preprocessing.INPUT_SIZE, preprocessing.INPUT_SIZE)
    assert np.array_equal(preprocessing.preprocess(image), expected)


def test_resizing_the_short_side_twice_changes_nothing():
    once = preprocessing.resize_short_side(preprocessing.decode_view(view_jpeg((1024, 683))))
    assert once.size == (383, 256)
    assert np.array_equal(np.asarray(preprocessing.resize_short_side(once)), np.asarray(once))


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not a model input"),
        (b"\xff\xd8\xff\xe0 a JPEG, say", "not a model input"),
        (pickle.dumps({"x": 1}), "not a model input"),
        (npy(np.array([{"x": 1}], dtype=object)), "not a model input"),
        (npy(np.zeros((256, 256, 3), dtype=np.float32)), "float32"),
        (npy(np.zeros((256, 256), dtype=np.uint8)), r"shape \(256, 256\)"),
        (npy(np.zeros((256, 300, 4), dtype=np.uint8)), r"shape \(256, 300, 4\)"),
        (npy(np.zeros((224, 300, 3), dtype=np.uint8)), "300x224; its short side must be 256"),
        (npy(np.zeros((256, 300, 3), dtype=np.uint8))[:-100], "not a model input"),
    ],
)
def test_anything_but_a_stored_model_input_is_refused(data, reason):
    with pytest.raises(ValueError, match=reason):
        preprocessing.model_input_image(data)


def test_scaling_is_x_over_255_minus_mean_over_std_in_float32_for_every_pixel_value():
    rows, cols = np.mgrid[0:256, 0:256]
    ramp = np.stack([(7 * rows + cols + 85 * c) % 256 for c in range(3)], axis=-1).astype(np.uint8)
    crop = ramp[16:240, 16:240]  # what the centre crop keeps of a 256 x 256 image
    assert all(len(np.unique(crop[..., c])) == 256 for c in range(3))
    tensor = preprocessing.preprocess(Image.fromarray(ramp, "RGB"))
    scaled = crop.astype(np.float32) / np.float32(255.0)
    expected = (scaled - np.array(preprocessing.MEAN, np.float32)) / np.array(preprocessing.STD, np.float32)
    assert tensor.dtype == np.float32 and tensor.flags.c_contiguous
    assert np.array_equal(tensor, expected.transpose(2, 0, 1))
