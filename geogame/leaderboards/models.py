from django.db import models

from geogame.game.models import Game
from geogame.maps.models import Map
from players.models import Player


class GameResult(models.Model):
    """A finished game's totals for one of its players (its player, or its machine opponent),
    written once when that player's last round is in; PlayerBest keeps each player's best."""

    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="results")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="results")
    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="results")
    mode = models.CharField(max_length=12, choices=Game.MODE_CHOICES)
    is_machine = models.BooleanField()
    total_points = models.PositiveIntegerField()
    total_time_s = models.FloatField()
    finished_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["game", "player"], name="one_result_per_game_player")]
        indexes = [models.Index(fields=["map", "mode", "finished_at"], name="result_map_time")]

    def __str__(self):
        return f"result of {self.player_id} in game {self.game_id}"


class PlayerBest(models.Model):
    """Each player's best result on a map in a mode, of all time (`period` "all") and of each
    week ("week:<monday>"): a leaderboard is the first rows of one index, with one row a player."""

    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="bests")
    mode = models.CharField(max_length=12, choices=Game.MODE_CHOICES)
    period = models.CharField(max_length=20)
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="bests")
    is_machine = models.BooleanField()
    result = models.ForeignKey(GameResult, on_delete=models.CASCADE, related_name="+")
    total_points = models.PositiveIntegerField()
    total_time_s = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["map", "mode", "period", "player"], name="one_best_per_period")
        ]
        indexes = [
            models.Index(
                "map",
                "mode",
                "period",
                "is_machine",
                models.F("total_points").desc(),
                "total_time_s",
                name="best_board",
            ),
        ]

    def __str__(self):
        return f"best of {self.player_id} on map {self.map_id} ({self.period})"
