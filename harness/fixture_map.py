"""The fixture map that tests and benchmarks build themselves: five cities, each with its own
colour cast, so nothing depends on ../shared, as a map folder (images and manifest.csv) that
import_map reads."""

import csv
import io

import numpy as np
from PIL import Image

CITY_TINTS = [(1.0, 0.3, 0.3), (0.3, 1.0, 0.3), (0.3, 0.3, 1.0), (1.0, 1.0, 0.2), (0.2, 1.0, 1.0)]
FIXTURE_CITIES = [
    ("Stuttgart", "Germany", 48.7758, 9.1829),
    ("Orleans", "France", 47.9022, 1.9104),
    ("Aurora", "Canada", 44.0065, -79.4504),
    ("Singapore", "Singapore", 1.3521, 103.8198),
    ("Hameln", "Germany", 52.1024, 9.3560),
]
MANIFEST_HEADER = [
    "id",
    "file",
    "source",
    "source_id",
    "lat",
    "lon",
    "heading",
    "projection",
    "captured_at",
    "city",
    "country",
    "iso2",
    "license",
    "attribution",
    "source_url",
    "sha256",
    "split",
]


def make_image_bytes(size=(320, 240), seed=0, fmt="JPEG", exif_text=None, tint=None):
    """A textured image (so JPEG has something to encode), optionally with EXIF
    carrying `exif_text` as description and GPS tags, like a phone photo. `tint`
    (an RGB triple in 0..1) gives a city its own look, so models can learn it."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    colour = np.asarray(tint) if tint is not None else rng.uniform(0.3, 1.0, 3)
    arr = np.clip(base * colour + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr)
    buf = io.BytesIO()
    kwargs = {}
    if exif_text is not None:
        exif = Image.Exif()
        exif[0x010E] = exif_text  # ImageDescription
        exif[0x010F] = "SecretCam"  # Make
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 46.0, 33.0), "E", (9.0, 10.0, 58.0)
        kwargs["exif"] = exif.tobytes()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_manifest(folder, rows):
    with open(folder / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_HEADER, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


# The fixture map's own splits (its manifest's split column), by position in a city: machine games
# draw only from test and play (geogame.game.location_pools), so a third of each split would leave the
# 16-location fixture map none to play against a machine.
FIXTURE_SPLITS = ("train", "test", "play")


def build_fixture_folder(folder, per_city=3, panoramas=True, held_out=True):
    """A map folder: `per_city` perspective photos per city with EXIF that names
    the place, plus one 2:1 panorama in the first city. `held_out`: the manifest
    names each location's split (FIXTURE_SPLITS per city, the panorama val), so a
    machine can play 10 of the 16; else the import's seeded hash splits them."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    n = 0
    for ci, (city, country, lat, lon) in enumerate(FIXTURE_CITIES):
        for k in range(per_city):
            n += 1
            name = f"images/img{n:03d}.jpg"
            (folder / name).write_bytes(
                make_image_bytes(
                    seed=n, exif_text=f"{city} {country} {lat:.4f},{lon:.4f}", tint=CITY_TINTS[ci]
                )
            )
            rows.append(
                {
                    "id": f"id-{n}",
                    "file": name,
                    "source": "Mapillary",
                    "source_id": f"90000{n}",
                    "lat": f"{lat + 0.01 * k:.6f}",
                    "lon": f"{lon - 0.01 * k:.6f}",
                    "heading": "90",
                    "projection": "perspective",
                    "captured_at": "2020-01-01",
                    "city": city,
                    "country": country,
                    "license": "CC BY-SA 4.0",
                    "attribution": f"Mapillary image 90000{n}",
                    "split": FIXTURE_SPLITS[k % len(FIXTURE_SPLITS)] if held_out else "",
                }
            )
    if panoramas:
        n += 1
        name = f"images/pano{n:03d}.jpg"
        (folder / name).write_bytes(make_image_bytes(size=(512, 256), seed=n))
        city, country, lat, lon = FIXTURE_CITIES[0]
        rows.append(
            {
                "id": f"id-{n}",
                "file": name,
                "source": "KartaView",
                "source_id": f"80000{n}",
                "lat": f"{lat + 0.05:.6f}",
                "lon": f"{lon + 0.05:.6f}",
                "heading": "30",
                "projection": "equirectangular",
                "city": city,
                "country": country,
                "license": "CC BY-SA 4.0",
                "attribution": f"KartaView image 80000{n}",
                "split": "val" if held_out else "",
            }
        )
    write_manifest(folder, rows)
    return rows
