"""scoring/jetstream/source.py's pure part: where a batch sits in the stream (no server needed)."""

from datetime import UTC, datetime

from nats.aio.msg import Msg

from scoring.jetstream import BatchSpan, batch_span

ARRIVED = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def message(stream_sequence: int, arrived: datetime = ARRIVED, domain: bool = False) -> Msg:
    """A message as JetStream delivers it: its ack subject carries the metadata."""
    ns = int(arrived.timestamp() * 1e9)
    fields = f"STREAM.durable.1.{stream_sequence}.{stream_sequence + 100}.{ns}.0"
    reply = f"$JS.ACK.hub.ACCOUNTHASH.{fields}.token" if domain else f"$JS.ACK.{fields}"
    return Msg(_client=None, subject="CONTRIBUTION_REGISTERED", reply=reply, data=b"")


def test_the_span_is_the_first_and_last_stream_sequence_and_the_first_arrival():
    later = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)
    span = batch_span([message(41), message(42), message(43, later)])
    assert span == BatchSpan(first=41, last=43, first_arrival=ARRIVED.timestamp())
    assert str(span) == "seq=41-43"


def test_redeliveries_come_first_so_the_ends_bound_the_batch():
    span = batch_span([message(7), message(8), message(50), message(51)])  # 7 and 8 redelivered
    assert (span.first, span.last) == (7, 51)


def test_the_ack_subject_with_a_domain_reads_the_same():
    assert batch_span([message(9, domain=True), message(12, domain=True)]) == BatchSpan(9, 12, ARRIVED.timestamp())


def test_messages_that_are_not_jetstream_s_have_no_span():
    plain = Msg(_client=None, subject="x", reply="_INBOX.abc", data=b"")
    assert batch_span([plain]) == BatchSpan(None, None, None)
    assert str(batch_span([])) == "seq=None-None"
