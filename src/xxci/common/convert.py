"""Protobuf <-> domain conversions shared by the orchestrator and its clients."""

from __future__ import annotations

from datetime import datetime

from xxci.common.events import RecordedEvent, decode_event, encode_event
from xxci.common.pb.v1 import pipeline_pb2


def record_to_pb(rec: RecordedEvent) -> pipeline_pb2.EventRecord:
    type_name, data = encode_event(rec.event)
    return pipeline_pb2.EventRecord(
        seq=rec.seq,
        stream=rec.stream,
        version=rec.version,
        type=type_name,
        data=data,
        at=rec.at.isoformat(),
    )


def record_from_pb(msg: pipeline_pb2.EventRecord) -> RecordedEvent:
    return RecordedEvent(
        seq=msg.seq,
        stream=msg.stream,
        version=msg.version,
        at=datetime.fromisoformat(msg.at),
        event=decode_event(msg.type, msg.data),
    )
