"""Accounts and WebSocket clients for the ranked queue (/ws/ranked/queue/<map>/), for its tests and
bench/queue_pairing.py: accounts with a rating made straight in the stack's database (no sign-up
form: its rate limit is per address), each logged in by a session row, and clients that join."""

import json
import time

from harness.duel_stack import FIXTURE_MAP

WAIT_S = 20

ACCOUNTS_SCRIPT = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from geogame.maps.models import Map
from geogame.ranked.models import Rating
from players.sessions import SESSION_KEY as PLAYER_KEY, account_player
store = import_module(settings.SESSION_ENGINE).SessionStore
m = Map.objects.get(slug=%(map)r)
out = {}
for name, rating in %(accounts)r:
    user = User.objects.create_user(username=name, password=None)
    player = account_player(user)
    if rating is not None:
        Rating.objects.create(player=player, map=m, rating=rating, deviation=60.0)
    session = store()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[PLAYER_KEY] = player.id
    session.create()
    out[name] = {"session": session.session_key, "player": player.id}
print("ACCOUNTS " + json.dumps(out))
"""


def make_accounts(stack, accounts, map_slug=FIXTURE_MAP[1]):
    """{name: {"session", "player"}} for [(username, rating or None)], made in `stack`'s database
    (anything with manage(): tools.stack.Stack)."""
    text = stack.manage("shell", "-c", ACCOUNTS_SCRIPT % {"map": map_slug, "accounts": list(accounts)})
    line = next(line for line in text.splitlines() if line.startswith("ACCOUNTS "))
    return json.loads(line.removeprefix("ACCOUNTS "))


def cookie(session_key):
    return f"sessionid={session_key}"


class QueueClient:
    """One socket on the queue: connecting joins it. Every message received is kept in `seen`."""

    def __init__(self, web_url, session_key=None, map_slug=FIXTURE_MAP[1], origin=None):
        from websockets.sync.client import connect

        headers = {"Cookie": cookie(session_key)} if session_key else {}
        self.conn = connect(
            "ws" + web_url.removeprefix("http") + f"/ws/ranked/queue/{map_slug}/",
            origin=origin or web_url,
            additional_headers=headers,
            proxy=None,
            open_timeout=WAIT_S,
            legacy=True,  # a plain connection, closed by close()
        )
        self.seen = []

    def send(self, msg):
        self.conn.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))

    def recv(self, timeout=WAIT_S):
        msg = json.loads(self.conn.recv(timeout=timeout))
        self.seen.append(msg)
        return msg

    def until_type(self, kind, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} within {timeout} s; seen: {self.seen[-5:]}")
            msg = self.recv(timeout=left)
            if msg["type"] == kind:
                return msg

    def closed_with(self, timeout=WAIT_S):
        """The close code once the server closes the socket (messages before it go to `seen`)."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv(timeout=max(0.01, deadline - time.monotonic()))
            except ConnectionClosed:
                return self.conn.close_code
            if time.monotonic() > deadline:
                raise TimeoutError(f"socket still open after {timeout} s; seen: {self.seen[-5:]}")

    def close(self):
        self.conn.close()
