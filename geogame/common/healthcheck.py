"""The container healthcheck: `python -m geogame.common.healthcheck [URL]` exits 0 when URL (default
http://127.0.0.1:8000/healthz) answers 200, else 1 with the answer on stderr.

The request names the first of GEOGAME_ALLOWED_HOSTS as its Host, so a deployment that only
allows its public name still passes its own probe."""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def probe_host():
    first = (os.environ.get("GEOGAME_ALLOWED_HOSTS") or "localhost").split(",")[0].strip()
    host = first.lstrip(".")  # ".example.org" allows example.org and its subdomains
    return "localhost" if host in ("", "*") else host


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else DEFAULT_URL
    headers = {"Host": probe_host()}
    if os.environ.get("GEOGAME_HEALTH_TOKEN"):  # then a failure's detail reaches the container's log
        headers["X-Health-Token"] = os.environ["GEOGAME_HEALTH_TOKEN"]
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=8) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} {exc.read().decode(errors='replace')[:2000]}", file=sys.stderr)
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
