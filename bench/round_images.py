"""CPU cost and size of the per-round image renderings (geogame.game.round_images).

    .venv/bin/python bench/round_images.py [--sample DIR] [--repeats 3]

Builds each location's stored views as the importer does (geogame.maps.images.serving_variants; a
2:1 panorama rendered into three 768 px views first), on the shared sample photos
(../shared/datasets/streetscapes-sample; generated images when it is absent, said so), then
times, for every location as one round:

- baseline: serving the stored bytes as they are (reading the view's file), what the server
  did before the renderings;
- rendering: round_images.render for each view (decode, crop, scale, encode display and
  thumbnail), what the first request of a view costs now; a reload is served from the cache;
- a cache hit (round_images.BytesLRU.get).

It prints ms per view and per round (medians over --repeats), the ratio rendering / baseline,
and the bytes per round (display + thumbnail of every view), against the 450 KB limit for a
three-view round. No Django: only Pillow and the pure modules.
"""

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from geogame.game import round_images  # noqa: E402
from geogame.maps import images, panorama  # noqa: E402

DEFAULT_SAMPLE = REPO.parent / "shared" / "datasets" / "streetscapes-sample"
PANORAMA_VIEW_SIZE = (768, 768)  # geogame.maps.importer.PANORAMA_VIEW_SIZE (importing it needs Django)
ROUND_LIMIT_BYTES = 450_000
LIMITS = {"max_bytes": 40 * 1024 * 1024, "max_pixels": 64_000_000}


def stored_views_from_sample(folder):
    """[[display jpeg, ...] per location] as the importer stores them."""
    locations = []
    with open(folder / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            im = images.open_image((folder / row["file"]).read_bytes(), **LIMITS)
            if row.get("projection") == "equirectangular" and panorama.looks_equirectangular(*im.size):
                views = [v for _, v in panorama.render_three_views(im, size=PANORAMA_VIEW_SIZE)]
            else:
                views = [im]
            locations.append([images.serving_variants(v)[0] for v in views])
    return locations


def stored_views_generated(n=30):
    """Textured images of the sample's shapes (harness.fixture_map.make_image_bytes), a third of them
    three-view locations."""
    from harness.fixture_map import make_image_bytes

    shapes = [(2048, 1536), (1920, 1080), (2048, 1152)]
    locations = []
    for i in range(n):
        count = 3 if i % 3 == 0 else 1
        views = []
        for k in range(count):
            size = (768, 768) if count == 3 else shapes[i % len(shapes)]
            im = images.open_image(make_image_bytes(size=size, seed=100 * i + k), **LIMITS)
            views.append(images.serving_variants(im)[0])
        locations.append(views)
    return locations


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    if (args.sample / "manifest.csv").is_file():
        print(f"photos: the sample in {args.sample}")
        locations = stored_views_from_sample(args.sample)
    else:
        print(f"photos: GENERATED (no manifest.csv in {args.sample}; figures are not the sample's)")
        locations = stored_views_generated()
    n_views = sum(len(v) for v in locations)
    print(f"{len(locations)} locations as rounds, {n_views} views")

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for li, views in enumerate(locations):
            row = []
            for vi, data in enumerate(views):
                path = Path(tmp) / f"{li}-{vi}.jpg"
                path.write_bytes(data)
                row.append(path)
            paths.append(row)

        secret = "bench-secret"
        cache = round_images.BytesLRU(64 * 1024 * 1024)
        base, rend, hit, sizes = {1: [], 3: []}, {1: [], 3: []}, [], {1: [], 3: []}
        per_view_base, per_view_rend = [], []
        for li, row in enumerate(paths):
            key = f"round-{li}"
            b = median_ms(lambda row=row: [p.read_bytes() for p in row], args.repeats)

            def render_round(row=row, key=key):
                return [
                    round_images.render(p.read_bytes(), round_images.round_seed(secret, key, i))
                    for i, p in enumerate(row)
                ]

            r = median_ms(render_round, args.repeats)
            out = render_round()
            for i, rendered in enumerate(out):
                for kind, data in rendered.items():
                    cache.put((key, i, kind), data)
            indices = range(len(row))
            h = median_ms(
                lambda key=key, ix=indices: [cache.get((key, i, "image")) for i in ix], args.repeats
            )
            n = 3 if len(row) >= 3 else 1
            base[n].append(b)
            rend[n].append(r)
            hit.append(h / len(row))
            per_view_base.append(b / len(row))
            per_view_rend.append(r / len(row))
            sizes[n].append(sum(len(d) for rendered in out for d in rendered.values()))

    mb, mr = statistics.median(per_view_base), statistics.median(per_view_rend)
    print()
    print(f"{'per view':34s} {'median ms':>10s}")
    print(f"{'baseline: stored bytes as they are':34s} {mb:10.3f}")
    print(f"{'rendering (display + thumbnail)':34s} {mr:10.1f}")
    print(f"{'cache hit (a reload)':34s} {statistics.median(hit):10.4f}")
    print(f"ratio rendering / baseline: {mr / mb:,.0f}x")
    print()
    print(
        f"{'per round':12s} {'rounds':>6s} {'baseline ms':>12s} {'render ms':>10s} {'ratio':>7s} "
        f"{'KB mean':>8s} {'KB max':>7s}"
    )
    for n in (1, 3):
        if not rend[n]:
            continue
        b, r = statistics.median(base[n]), statistics.median(rend[n])
        print(
            f"{f'{n} view(s)':12s} {len(rend[n]):6d} {b:12.3f} {r:10.1f} {r / b:6.0f}x "
            f"{statistics.mean(sizes[n]) / 1000:8.1f} {max(sizes[n]) / 1000:7.1f}"
        )
    worst = max(max(s) for s in sizes.values() if s)
    verdict = "under" if worst < ROUND_LIMIT_BYTES else "OVER"
    print(f"\nlargest round: {worst / 1000:.1f} KB, {verdict} the {ROUND_LIMIT_BYTES // 1000} KB limit")
    print(
        f"served sizes: {round_images.SERVED_SIZE[0]}x{round_images.SERVED_SIZE[1]}, thumbnails "
        f"{round_images.THUMB_SIZE[0]}x{round_images.THUMB_SIZE[1]}; "
        f"JPEG quality {round_images.DISPLAY_QUALITY} "
        f"(thumbnails {round_images.THUMB_QUALITY}), lowered in steps of {round_images.QUALITY_STEP} over "
        f"{round_images.DISPLAY_BUDGET // 1000} KB ({round_images.THUMB_BUDGET // 1000} KB)"
    )
    return 0 if worst < ROUND_LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
