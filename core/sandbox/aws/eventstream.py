"""AWS event-stream binary framing (application/vnd.amazon.eventstream), as botocore's EventStream parses it.

A message is: total length (u32), headers length (u32), prelude CRC32, headers, payload, message CRC32.
A header is: name length (u8), name, value type (u8; 7 = string), value length (u16), value.
"""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7


def _header(name: str, value: str) -> bytes:
    name_b, value_b = name.encode(), value.encode()
    return struct.pack("!B", len(name_b)) + name_b + struct.pack("!BH", _STRING, len(value_b)) + value_b


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    header_bytes = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack("!II", total, len(header_bytes))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + header_bytes + payload
    return body + struct.pack("!I", zlib.crc32(body) & 0xFFFFFFFF)


def payload_part(data: bytes) -> bytes:
    """A `PayloadPart` event of SageMaker's InvokeEndpointWithResponseStream."""
    return encode_message(
        {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"},
        data,
    )


def exception_event(kind: str, message: str, error_code: str | None = None) -> bytes:
    """A modelled stream error (`ModelStreamError`, `InternalStreamFailure`)."""
    body: dict[str, str] = {"Message": message}
    if error_code is not None:
        body["ErrorCode"] = error_code
    return encode_message(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps(body).encode(),
    )
