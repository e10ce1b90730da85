"""Peak memory of decoding one uploaded photo: the privacy check's decode (reduced, under the upload
limit; geogame.privacy.services.decode_photo) against a full-size decode of the same bytes (what
the check did before), each in a fresh process so its peak RSS is its own.

    .venv/bin/python bench/upload_memory.py

Prints, per image, the peak RSS during the decode above the RSS before it, in MB (Linux: the peak
is reset through /proc/self/clear_refs), and the ratio full / reduced. A PNG over the upload limit
is refused before decoding (no decode).
"""

import io
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from django.conf import settings
from geogame.maps import images
from geogame.privacy import services as privacy_services
def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
data = open(sys.argv[2], "rb").read()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current RSS: the imports' peak is not counted
base = status_kb("VmRSS")
outcome = ""
if sys.argv[1] == "full":
    im = images.open_image(data, max_bytes=settings.GEOGAME_MAX_IMAGE_BYTES,
                           max_pixels=settings.GEOGAME_MAX_IMAGE_PIXELS)
    outcome = "x".join(map(str, im.size))
elif sys.argv[1] == "reduced":
    try:
        outcome = "x".join(map(str, privacy_services.decode_photo(data).size))
    except images.ImageRejected as exc:
        outcome = "refused (" + str(exc)[:40] + "...)"
peak = status_kb("VmHWM")
print((peak - base) / 1024, outcome)
"""


def cases(folder):
    from PIL import Image

    made = {}
    # The attack: a tiny PNG of 7990x8000 px.
    buf = io.BytesIO()
    Image.new("P", (7990, 8000)).save(buf, format="PNG")
    made["PNG 7990x8000 (attack)"] = buf.getvalue()
    # A 48 Mpx phone photo (JPEG) and a 12 Mpx screenshot (PNG).
    grad = Image.linear_gradient("L").resize((8000, 6000)).convert("RGB")
    buf = io.BytesIO()
    grad.save(buf, format="JPEG", quality=90)
    made["JPEG 8000x6000"] = buf.getvalue()
    buf = io.BytesIO()
    grad.resize((4000, 3000)).save(buf, format="PNG")
    made["PNG 4000x3000"] = buf.getvalue()
    paths = {}
    for name, data in made.items():
        path = Path(folder) / (name.split()[0] + name.split()[1] + ".img")
        path.write_bytes(data)
        paths[name] = (path, len(data))
    return paths


def measure(mode, path):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path)], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    return float(out[0]), out[1].strip()


def main():
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'image':28} {'bytes':>9} {'full MB':>8} {'reduced MB':>10} {'ratio':>6}  reduced to")
        for name, (path, size) in cases(folder).items():
            full, _ = measure("full", path)
            reduced, outcome = measure("reduced", path)
            ratio = full / reduced if reduced > 0.5 else float("inf")
            print(f"{name:28} {size:>9} {full:>8.0f} {reduced:>10.0f} {ratio:>6.1f}  {outcome}")


if __name__ == "__main__":
    main()
