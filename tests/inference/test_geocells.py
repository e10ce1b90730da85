import numpy as np
import pytest

from inference import geocells


def blobs(centres, per_blob=30, spread_deg=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([np.asarray(c) + rng.normal(0, spread_deg, (per_blob, 2)) for c in centres])


def test_latlon_and_xyz_round_trip_and_vectors_are_unit_length():
    latlons = np.array([[0.0, 0.0], [48.78, 9.18], [-33.9, 151.2], [89.0, -179.5], [1.35, 103.8]])
    xyz = geocells.latlon_to_xyz(latlons)
    assert np.allclose(np.linalg.norm(xyz, axis=-1), 1.0)
    assert np.allclose(geocells.latlon_to_xyz([0.0, 90.0]), [0.0, 1.0, 0.0], atol=1e-12)
    assert np.allclose(geocells.xyz_to_latlon(xyz), latlons)
    assert np.allclose(geocells.xyz_to_latlon(3 * xyz), latlons)


def test_haversine_matches_known_distances_and_broadcasts():
    one_degree_on_equator = 2 * np.pi * geocells.EARTH_RADIUS_KM / 360
    assert geocells.haversine_km_np([0, 0], [0, 1]) == pytest.approx(one_degree_on_equator)
    # Paris to London, about 344 km.
    assert geocells.haversine_km_np([48.8566, 2.3522], [51.5074, -0.1278]) == pytest.approx(343.6, abs=1.0)
    grid = geocells.haversine_km_np(np.zeros((3, 1, 2)), np.array([[0, 0], [0, 1]])[None])
    assert grid.shape == (3, 2)


def test_geocells_find_well_separated_clusters_and_are_deterministic():
    centres = [(48.0, 9.0), (1.3, 103.8), (44.0, -79.4)]
    latlons = blobs(centres)
    cells = geocells.make_geocells(latlons, k=3, seed=1)
    again = geocells.make_geocells(latlons, k=3, seed=1)
    assert np.array_equal(cells.labels, again.labels) and np.allclose(cells.centroids, again.centroids)
    for blob in range(3):
        labels = cells.labels[blob * 30 : (blob + 1) * 30]
        assert len(set(labels)) == 1
        assert geocells.haversine_km_np(cells.centroids[labels[0]], centres[blob]) < 20


def test_clustering_on_the_sphere_keeps_a_cell_across_the_antimeridian_together():
    latlons = blobs([(-17.0, 179.9), (40.0, 0.0)], spread_deg=0.1)
    cells = geocells.make_geocells(latlons, k=2)
    assert len(set(cells.labels[:30])) == 1
    assert abs(cells.centroids[cells.labels[0]][1]) > 179.0


def test_the_default_cell_count_grows_with_the_data_within_bounds():
    assert geocells.default_cell_count(3) == 2
    assert geocells.default_cell_count(200) == 10
    assert geocells.default_cell_count(1_000_000) == 50
    assert len(geocells.make_geocells(blobs([(0, 0), (10, 10)], per_blob=100)).centroids) == 10


def test_no_more_cells_than_distinct_locations():
    cells = geocells.make_geocells([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]], k=5)
    assert len(cells.centroids) == 2


def test_new_locations_are_assigned_to_the_nearest_centroid():
    centroids = np.array([[0.0, 0.0], [0.0, 90.0], [45.0, -120.0]])
    assert geocells.assign_cells([[1.0, 89.0], [44.0, -119.0], [-1.0, 1.0]], centroids).tolist() == [1, 2, 0]


def test_districts_are_clustered_inside_each_city_and_flattened_by_offsets():
    by_city = {
        "Stuttgart": blobs([(48.75, 9.15), (48.80, 9.22)], spread_deg=0.005),
        "Orleans": blobs([(47.90, 1.90), (47.92, 1.95), (47.88, 1.88)], spread_deg=0.003),
    }
    districts = geocells.make_districts(by_city, per_city_k=3, seed=0)
    assert set(districts) == {"Stuttgart", "Orleans"}
    assert len(districts["Stuttgart"].labels) == 60 and len(districts["Orleans"].centroids) == 3
    assert geocells.make_districts(by_city, per_city_k=3, seed=0)["Orleans"].labels.tolist() == (
        districts["Orleans"].labels.tolist()
    )
    assert geocells.district_offsets(districts, ["Orleans", "Stuttgart"]).tolist() == [0, 3]


def test_the_vectorised_haversine_agrees_with_the_games_scalar_one():
    from geogame.common.geo import haversine_km

    rng = np.random.default_rng(0)
    a = np.stack([rng.uniform(-90, 90, 20), rng.uniform(-180, 180, 20)], axis=1)
    b = np.stack([rng.uniform(-90, 90, 20), rng.uniform(-180, 180, 20)], axis=1)
    expected = [haversine_km(*p, *q) for p, q in zip(a, b, strict=True)]
    assert np.allclose(geocells.haversine_km_np(a, b), expected, rtol=1e-12)
