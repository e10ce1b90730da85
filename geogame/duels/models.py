import uuid

from django.db import models

from geogame.game.models import Game
from players.models import Player


class Duel(models.Model):
    """Two sides play the same rounds (the rounds of `game`) and lose health on the point
    difference (geogame.duels.rules). The state a client sees lives in this row and changes
    only in geogame.duels.services, one event at a time; `version` counts the events."""

    WAITING = "waiting"  # for an invited human to join
    ACTIVE = "active"
    FINISHED = "finished"
    STATUS_CHOICES = [(WAITING, "waiting for a player"), (ACTIVE, "playing"), (FINISHED, "finished")]

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The map, the location order (seed), the round clock and the maximum number of rounds.
    game = models.OneToOneField(Game, on_delete=models.CASCADE, related_name="duel")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=WAITING)
    version = models.PositiveIntegerField(default=0)
    health = models.JSONField(default=list)  # [side 0, side 1]
    round_index = models.SmallIntegerField(null=True, blank=True)  # None before the first round
    round_open = models.BooleanField(default=False)  # the current round takes guesses
    # Seats whose guess for the current round has been announced (a machine's only after it "thought").
    guessed = models.JSONField(default=list)
    next_round_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=list)  # one frozen round_result payload per finished round
    winner_seat = models.SmallIntegerField(null=True, blank=True)  # None: playing, or a draw
    end_reason = models.CharField(max_length=20, blank=True, default="")
    # Rated (geogame.ranked) once finished; a side that misses a round's deadline forfeits.
    ranked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "geogame_duel"
        # The workers' sweep (duel_services.duels_advance_overdue) looks at active duels every second.
        indexes = [models.Index(fields=["status"], condition=models.Q(status="active"), name="duel_active")]

    def __str__(self):
        return f"duel {self.public_id}"

    @property
    def map(self):
        return self.game.map

    @property
    def max_rounds(self):
        return self.game.rounds_total


class DuelSeat(models.Model):
    """A player in a duel. Seats 0 and 1 are the two sides; seat 2, if any, is a machine
    that guesses along in a duel between two humans, for comparison only."""

    SIDES = (0, 1)

    duel = models.ForeignKey(Duel, on_delete=models.CASCADE, related_name="seats")
    seat = models.PositiveSmallIntegerField()
    # Empty until the invited human opens the invite link.
    player = models.ForeignKey(
        Player, null=True, blank=True, on_delete=models.CASCADE, related_name="duel_seats"
    )
    invite_token = models.CharField(max_length=43, null=True, blank=True, unique=True)
    # A machine seat's artefact when the duel was made (geogame.game.machines.artefact): what is rated.
    artefact = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "geogame_duelseat"
        ordering = ["duel_id", "seat"]
        constraints = [
            models.UniqueConstraint(fields=["duel", "seat"], name="unique_duel_seat"),
            models.UniqueConstraint(
                fields=["duel", "player"],
                condition=models.Q(player__isnull=False),
                name="one_seat_per_player",
            ),
        ]

    def __str__(self):
        return f"seat {self.seat} of duel {self.duel_id}"
