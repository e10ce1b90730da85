from celery import shared_task

from geogame.common.background import RETRY_ON_DATABASE_ERRORS


@shared_task(name="geogame.bot_round_expire", acks_late=True, ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def bot_round_expire(round_id, player_id):
    """A bot's answer deadline has passed: record its miss if it has not answered. Safe to run twice."""
    from .services import round_expire

    round_expire(round_id=round_id, player_id=player_id)


@shared_task(
    name="geogame.bot_webhook",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    **RETRY_ON_DATABASE_ERRORS,
)
def bot_webhook(round_id, player_id):
    """Send a new round's offer to the bot's webhook (retried inside, while the round is open)."""
    from .webhooks import deliver

    deliver(round_id=round_id, player_id=player_id)
