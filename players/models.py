from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Player(models.Model):
    """Anyone who guesses: a browser session (human) or a machine player.

    Humans are anonymous by default: the player id lives in their session cookie, and the
    display name is whatever they typed. A human with an account has `user` set: the name is the
    one they chose at sign-up, unique among accounts (case-insensitively).
    """

    HUMAN = "human"
    MACHINE = "machine"
    KIND_CHOICES = [(HUMAN, "Human"), (MACHINE, "Machine")]

    display_name = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=HUMAN)
    # For machine players: the registry name of the model that plays ("ensemble", ...).
    machine_name = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="player"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("display_name"),
                condition=models.Q(user__isnull=False),
                name="unique_account_display_name",
            ),
            models.UniqueConstraint(
                fields=["machine_name"],
                condition=models.Q(kind="machine"),
                name="one_player_per_machine_name",
            )
        ]

    def __str__(self):
        return self.display_name
