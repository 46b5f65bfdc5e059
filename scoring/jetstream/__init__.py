"""The one owner of NATS: every connection, the consumer's pull source, the publisher, the probe.

- `connection`: `connect` (the service's one place that opens a connection) and `LoopThread`, the
  asyncio loop on a thread of its own that synchronous code hands coroutines to;
- `streams`: the stream and the durable, created when missing;
- `source`: `JetStreamSource`, the durable pull consumer the batch loops read from;
- `publisher`: `JetStreamPublisher`, acknowledged publishes (with `Nats-Msg-Id` when given);
- `probe`: `jetstream_probe`, the health check's look at NATS.
"""

from scoring.jetstream.connection import LoopThread, connect
from scoring.jetstream.probe import jetstream_probe
from scoring.jetstream.publisher import JetStreamPublisher, PublishFailed, process_publisher
from scoring.jetstream.source import BatchSpan, JetStreamSource, batch_span
from scoring.jetstream.streams import consumer_config, consumer_ensure, stream_config, stream_ensure

__all__ = [
    "BatchSpan",
    "JetStreamPublisher",
    "JetStreamSource",
    "LoopThread",
    "PublishFailed",
    "batch_span",
    "connect",
    "consumer_config",
    "consumer_ensure",
    "jetstream_probe",
    "process_publisher",
    "stream_config",
    "stream_ensure",
]
