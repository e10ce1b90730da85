"""What the accounts tell the areas built on games (challenges, dailies) when a browser's
anonymous player is folded into an account on log-in: `players_merged(sender, source, target)`,
sent after the games moved, inside the same transaction."""

from django.dispatch import Signal

players_merged = Signal()
