from django.core.management.base import BaseCommand, CommandError

from geogame.bots import services
from geogame.bots.models import Bot


class Command(BaseCommand):
    help = "Revoke a bot's token: its requests, and any poll it has waiting, are refused at once."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        bot = Bot.objects.filter(name=name).first()
        if bot is None:
            raise CommandError(f"no bot named {name!r}")
        services.bot_revoke(bot=bot)
        self.stdout.write(f"bot {name}: token revoked")
