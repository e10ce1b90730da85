"""A reference bot for geogame's bot API (docs/bot-api.md): it wraps any Python function that takes
a round's views (JPEG bytes, one per heading) and returns where it thinks they were taken.

    python bots/example_bot.py --server http://127.0.0.1:8000 --predict mymodule:guess
    (the token in GEOGAME_BOT_TOKEN; `mymodule.guess(views) -> (lat, lon)`)

The function may instead return a dict {"lat", "lon", "top_k": [...], "grid": {...}} to send a
top-k list or a probability grid with the pin. Standard library only, so it runs anywhere."""

import argparse
import importlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request

log = logging.getLogger("example_bot")
POLL_WAIT_S = 20  # the long poll's wait (the server caps it)
NETWORK_RETRY_S = 2.0


class Revoked(RuntimeError):
    """The server refused the token (wrong or revoked): retrying cannot help."""


def centre_of_the_world(views):
    """The default function: a pin in the Atlantic. Replace it with a model."""
    return 20.0, -30.0


class BotClient:
    def __init__(self, server, token, timeout_s=POLL_WAIT_S + 15):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        # No proxies: a bot talks to its server directly.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _request(self, url, body=None):
        """(status, parsed JSON or raw bytes) of a GET, or a POST with a JSON body."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
        request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(request, timeout=self.timeout_s) as response:
                status, payload, kind = response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, payload, kind = exc.code, exc.read(), exc.headers.get_content_type()
            if status == 401:
                raise Revoked(payload.decode(errors="replace")) from None
            if status == 429:
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        if kind == "application/json" and payload:
            return status, json.loads(payload)
        return status, payload

    def next_round(self, wait_s=POLL_WAIT_S):
        """The next round to answer (a dict), or None when none started within `wait_s`."""
        status, body = self._request(f"{self.server}/api/bot/rounds/next?wait={wait_s:g}")
        if status == 204:
            return None
        if status != 200:
            raise RuntimeError(f"the server answered {status}: {body}")
        return body

    def views(self, offer):
        out = []
        for url in offer["views"]:
            status, body = self._request(url)
            if status != 200:
                raise RuntimeError(f"view {url} answered {status}")
            out.append(body)
        return out

    def guess(self, offer, answer):
        body = dict(answer) if isinstance(answer, dict) else {"lat": answer[0], "lon": answer[1]}
        return self._request(offer["guess_url"], body)


def play(client, predict, *, rounds=None, idle_exit_s=None):
    """Answer rounds with `predict(views)` until `rounds` are answered (None: forever), or no round
    came for `idle_exit_s`. Returns how many it answered."""
    answered, idle_since = 0, time.monotonic()
    while rounds is None or answered < rounds:
        try:
            offer = client.next_round()
            if offer is None:
                if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    break
                continue
            answer = predict(client.views(offer))
            status, body = client.guess(offer, answer)
        except Revoked:
            raise
        except (OSError, RuntimeError, ValueError) as exc:  # the server restarting, a round gone
            log.warning("%s; trying again in %s s", exc, NETWORK_RETRY_S)
            time.sleep(NETWORK_RETRY_S)
            continue
        idle_since = time.monotonic()
        log.info("round %s: %s %s", offer["round"], status, body)
        if status in (200, 201):
            answered += 1
    return answered


def load_function(spec):
    """`module:function` -> the function (the module from the current folder or sys.path)."""
    module_name, _, name = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module_name), name or "predict")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the game server's base URL")
    parser.add_argument("--token-env", default="GEOGAME_BOT_TOKEN", help="the variable holding the token")
    parser.add_argument("--predict", default="", help="module:function taking views, returning (lat, lon)")
    parser.add_argument("--rounds", type=int, default=None, help="stop after answering this many")
    parser.add_argument("--idle-exit-s", type=float, default=None, help="stop when no round came this long")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    token = os.environ.get(args.token_env, "")
    if not token:
        parser.error(f"no token: set {args.token_env}")
    predict = load_function(args.predict) if args.predict else centre_of_the_world
    try:
        answered = play(
            BotClient(args.server, token), predict, rounds=args.rounds, idle_exit_s=args.idle_exit_s
        )
    except Revoked as exc:
        log.error("the server refused the token: %s", exc)
        return 2
    log.info("answered %d rounds", answered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
