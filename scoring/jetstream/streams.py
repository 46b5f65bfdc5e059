"""The stream and the durable consumer: what we create when they are missing.

An existing stream or durable is used as it is (an operator may have made it with other
limits). Both the pull source and the publisher ensure the stream before using it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

logger = logging.getLogger("leaderboard.consumer")


def stream_config() -> StreamConfig:
    """The stream we create when it is missing (an existing one is used as it is)."""
    max_age = settings.NATS_STREAM_MAX_AGE_DAYS * 86400
    return StreamConfig(name=settings.NATS_STREAM, subjects=[settings.NATS_SUBJECT], max_age=max_age or None)


def consumer_config() -> ConsumerConfig:
    """The durable pull consumer we create when it is missing."""
    return ConsumerConfig(
        durable_name=settings.NATS_DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.CONSUMER_ACK_WAIT,
        max_deliver=settings.CONSUMER_MAX_DELIVER,
        max_ack_pending=max(20_000, 4 * settings.CONSUMER_BATCH_SIZE),
        filter_subject=settings.NATS_SUBJECT,
    )


async def stream_ensure(js) -> None:
    """Create the stream if it does not exist; leave an existing one untouched."""
    try:
        await js.stream_info(settings.NATS_STREAM)
        return
    except NotFoundError:
        pass
    try:
        await js.add_stream(stream_config())
        logger.info("created stream %s for subject %s", settings.NATS_STREAM, settings.NATS_SUBJECT)
    except BadRequestError:
        await js.stream_info(settings.NATS_STREAM)  # another consumer created it first


async def consumer_ensure(js) -> None:
    """Create the durable consumer if it does not exist; leave an existing one untouched."""
    try:
        await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)
        return
    except NotFoundError:
        pass
    try:
        await js.add_consumer(settings.NATS_STREAM, consumer_config())
    except BadRequestError:
        await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)  # another consumer created it first
