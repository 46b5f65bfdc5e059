"""The stream and the durable consumer: what we create when they are missing.

An existing stream or durable is used as it is (an operator may have made it with other
limits), but one with fewer copies than NATS_STREAM_REPLICAS asks for is reported in the log as
an error each time it is ensured: it does not survive the loss of a node the settings expect it
to (NATS can raise a stream's replicas in place: `nats stream edit <stream> --replicas 3`).
Both the pull source and the publisher ensure the stream before using it.
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
    return StreamConfig(
        name=settings.NATS_STREAM,
        subjects=[settings.NATS_SUBJECT],
        max_age=max_age or None,
        num_replicas=settings.NATS_STREAM_REPLICAS,
    )


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
        # No replicas of its own: as many as its stream (NATS_STREAM_REPLICAS when we made it),
        # never more than an existing one can hold.
    )


async def stream_ensure(js) -> None:
    """Create the stream if it does not exist; leave an existing one untouched."""
    try:
        info = await js.stream_info(settings.NATS_STREAM)
    except NotFoundError:
        try:
            info = await js.add_stream(stream_config())
            logger.info("created stream %s for subject %s", settings.NATS_STREAM, settings.NATS_SUBJECT)
        except BadRequestError:
            info = await js.stream_info(settings.NATS_STREAM)  # another consumer created it first
    replicas_check("stream", settings.NATS_STREAM, info.config.num_replicas)


async def consumer_ensure(js) -> None:
    """Create the durable consumer if it does not exist; leave an existing one untouched."""
    try:
        info = await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)
    except NotFoundError:
        try:
            info = await js.add_consumer(settings.NATS_STREAM, consumer_config())
        except BadRequestError:
            info = await js.consumer_info(settings.NATS_STREAM, settings.NATS_DURABLE)  # created by another first
    # A durable's 0 replicas means "as many as its stream".
    replicas_check("durable", settings.NATS_DURABLE, info.config.num_replicas or None)


def replicas_check(kind: str, name: str, replicas: int | None) -> bool:
    """Whether the existing `kind` (stream or durable) `name` has the copies NATS_STREAM_REPLICAS
    asks for (None: as many as its stream, checked there); an error in the log when it has fewer."""
    if replicas is None or replicas >= settings.NATS_STREAM_REPLICAS:
        return True
    logger.error(
        "%s %s has %d replica(s) but NATS_STREAM_REPLICAS is %d: it does not survive the loss of a node; "
        "raise its replicas (nats stream edit / nats consumer edit) or lower the setting",
        kind,
        name,
        replicas,
        settings.NATS_STREAM_REPLICAS,
    )
    return False
