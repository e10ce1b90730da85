from django.db import models


class Player(models.Model):
    """Anyone who guesses: a browser session (human) or a machine player.

    Humans are anonymous: the player id lives in their session cookie, and the
    display name is whatever they typed.
    """

    HUMAN = "human"
    MACHINE = "machine"
    KIND_CHOICES = [(HUMAN, "Human"), (MACHINE, "Machine")]

    display_name = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=HUMAN)
    # For machine players: the registry name of the model that plays ("ensemble", ...).
    machine_name = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["machine_name"],
                condition=models.Q(kind="machine"),
                name="one_player_per_machine_name",
            )
        ]

    def __str__(self):
        return self.display_name
