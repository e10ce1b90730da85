import io

import numpy as np
import pytest
import torch
from PIL import Image

from inference.features import FeatureCache, content_hash


class CountingModel(torch.nn.Module):
    """Stands in for the backbone: channel means as features, and a count of forward calls."""

    num_features = 3

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.images_seen = 0

    def forward(self, x):
        self.calls += 1
        self.images_seen += len(x)
        return x.mean(dim=(2, 3))


def image_bytes(seed):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def cache(tmp_path):
    return FeatureCache(tmp_path, "test-backbone")


def test_a_second_call_computes_nothing(cache):
    model = CountingModel()
    images = [image_bytes(seed) for seed in range(5)]
    first = cache.features_for(images, model, batch_size=2)
    assert (model.calls, model.images_seen) == (3, 5)
    second = cache.features_for(images, model, batch_size=2)
    assert (model.calls, model.images_seen) == (3, 5)
    assert first.shape == (5, 3)
    assert np.array_equal(first, second)


def test_only_the_missing_images_are_computed_and_rows_keep_the_input_order(cache):
    model = CountingModel()
    images = [image_bytes(seed) for seed in range(4)]
    alone = cache.features_for([images[2]], model)
    assert model.images_seen == 1
    mixed = cache.features_for([images[3], images[2], images[0], images[2]], model)
    assert model.images_seen == 3  # images 3 and 0; image 2 came from the cache, once
    assert np.array_equal(mixed[1], alone[0]) and np.array_equal(mixed[3], alone[0])
    assert not np.array_equal(mixed[0], mixed[2])


def test_a_loader_is_called_only_on_a_cache_miss(cache):
    data = image_bytes(7)
    sha = content_hash(data)
    loads = []

    def loader():
        loads.append(sha)
        return Image.open(io.BytesIO(data))

    model = CountingModel()
    cache.features_for([(sha, loader)], model)
    cache.features_for([(sha, loader)], model)
    assert loads == [sha]
    assert set(cache.get_many([sha])) == {sha}


def test_features_are_stored_one_file_per_hash_with_no_temporary_files_left(cache, tmp_path):
    sha = content_hash(b"x")
    cache.put_many({sha: np.arange(4, dtype=np.float32)})
    stored = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [str(p) for p in stored] == [f"test-backbone/{sha[:2]}/{sha}.npy"]
    assert np.array_equal(cache.get_many([sha])[sha], np.arange(4, dtype=np.float32))


def test_caches_of_different_backbones_do_not_share_features(tmp_path):
    sha = content_hash(b"y")
    FeatureCache(tmp_path, "one").put_many({sha: np.ones(2)})
    assert FeatureCache(tmp_path, "two").get_many([sha]) == {}


def test_a_hash_that_is_not_a_sha256_is_refused(cache):
    with pytest.raises(ValueError, match="sha256"):
        cache.get_many(["../../etc/passwd"])
