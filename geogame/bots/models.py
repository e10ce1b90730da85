from django.db import models

from geogame.game.models import Guess
from players.models import Player


class Bot(models.Model):
    """A program that plays over the bot API as machine player `bot:<name>` (its `player`)."""

    name = models.SlugField(max_length=32, unique=True)
    description = models.CharField(max_length=200, blank=True, default="")
    player = models.OneToOneField(Player, on_delete=models.PROTECT, related_name="bot")
    # SHA-256 of the token (hex): the token itself is shown once, when made, and kept nowhere.
    token_hash = models.CharField(max_length=64, unique=True)
    token_hint = models.CharField(max_length=12)  # the token's first characters, to tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set after GEOGAME_BOT_MISSES_MAX rounds in a row without an answer; cleared when it polls again.
    unavailable_since = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Optional: each new round is also POSTed here, signed (geogame.bots.webhooks).
    webhook_url = models.URLField(max_length=300, blank=True, default="")

    def __str__(self):
        return f"bot {self.name}"


class BotPrediction(models.Model):
    """What a bot sent with its pin: a top-k list and/or a probability grid (the benchmark reads it)."""

    guess = models.OneToOneField(Guess, on_delete=models.CASCADE, related_name="bot_prediction")
    top_k = models.JSONField(null=True, blank=True)  # [[lat, lon, p], ...], best first
    grid = models.JSONField(null=True, blank=True)  # {"rows": R, "cols": C, "p": [R*C floats]}

    def __str__(self):
        return f"prediction with guess {self.guess_id}"


class BotBenchmarkGame(models.Model):
    """A game the benchmark plays with a bot on its fixed test locations (never substituted)."""

    game = models.OneToOneField("game.Game", on_delete=models.CASCADE, related_name="bot_benchmark")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"benchmark game {self.game_id}"
