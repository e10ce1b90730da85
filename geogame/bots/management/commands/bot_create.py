from django.core.management.base import BaseCommand, CommandError

from geogame.bots import services


class Command(BaseCommand):
    help = "Register a bot that plays over the bot API and print its token (shown this once only)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="2 to 32 characters: lower-case letters, digits and '-'")
        parser.add_argument("--description", default="", help="one line saying how it plays")
        parser.add_argument("--webhook-url", default="", help="also POST each new round here (signed)")

    def handle(self, *args, name, description, webhook_url, **options):
        try:
            bot, token = services.bot_create(name=name, description=description, webhook_url=webhook_url)
        except (ValueError, services.BotError) as exc:
            raise CommandError(getattr(exc, "message", None) or str(exc)) from None
        self.stderr.write(
            f"bot {bot.name} registered as machine player bot:{bot.name}; its token (shown once):"
        )
        self.stdout.write(token)
