"""AudioSocket: the pure codec against Asterisk's framing, and the server's matching
of connections to calls by UUID, with its caps against hostile peers."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ivr.telephony import audiosocket as asock


def test_framing_matches_asterisk():
    u = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")
    assert asock.encode_hangup() == b"\x00\x00\x00"
    assert asock.encode_uuid(u) == b"\x01\x00\x10" + u.bytes
    assert asock.encode_dtmf("#") == b"\x03\x00\x01#"
    frame = bytes(320)
    assert asock.encode_audio(frame) == b"\x10\x01\x40" + frame
    with pytest.raises(ValueError):
        asock.encode_audio(b"")              # Asterisk ends the session on an empty payload
    with pytest.raises(ValueError):
        asock.encode_audio(b"\x00")          # or half a sample


@pytest.mark.parametrize("header,problem", [
    (b"\x02\x00\x00", "unknown"),
    (b"\x10\x80\x00", "cap"),
    (b"\x01\x00\x0f", "UUID"),
    (b"\x03\x00\x02", "DTMF"),
    (b"\x10\x00\x03", "audio"),
    (b"\x10\x00", "truncated"),
])
def test_bad_headers_are_typed_errors(header, problem):
    with pytest.raises(asock.AudioSocketProtocolError, match=problem):
        asock.parse_header(header)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_read_message_stream():
    async def main():
        reader = _reader(asock.encode_dtmf("5") + asock.encode_audio(bytes(320)))
        first = await asock.read_message(reader)
        second = await asock.read_message(reader)
        assert (first.kind, asock.decode_dtmf(first.payload)) == (asock.KIND_DTMF, "5")
        assert second.kind == asock.KIND_AUDIO and len(second.payload) == 320
        assert await asock.read_message(reader) is None          # clean close
        with pytest.raises(asock.AudioSocketProtocolError):
            await asock.read_message(_reader(b"\x10\x01\x40" + bytes(100)))   # cut mid-payload

    asyncio.run(main())


def test_server_matches_by_uuid_and_closes_strangers():
    async def main():
        server = asock.AudioSocketServer("127.0.0.1", 0, uuid_timeout_s=0.5)
        await server.start()
        try:
            wanted = uuid.uuid4()
            expectation = server.expect(wanted)
            # a stranger with an unknown UUID is closed
            r1, w1 = await asyncio.open_connection("127.0.0.1", server.bound_port)
            w1.write(asock.encode_uuid(uuid.uuid4()))
            await w1.drain()
            assert await asyncio.wait_for(r1.read(), 2) == b""
            w1.close()
            # a peer that never sends its UUID is closed after the timeout
            r2, w2 = await asyncio.open_connection("127.0.0.1", server.bound_port)
            assert await asyncio.wait_for(r2.read(), 3) == b""
            w2.close()
            # audio before the UUID is refused too
            r3, w3 = await asyncio.open_connection("127.0.0.1", server.bound_port)
            w3.write(asock.encode_audio(bytes(320)))
            await w3.drain()
            assert await asyncio.wait_for(r3.read(), 2) == b""
            w3.close()
            # the expected call gets its connection, and audio flows both ways
            r4, w4 = await asyncio.open_connection("127.0.0.1", server.bound_port)
            w4.write(asock.encode_uuid(wanted) + asock.encode_audio(bytes(320)))
            await w4.drain()
            conn = await asyncio.wait_for(expectation.wait(), 2)
            assert conn.uuid == wanted
            msg = await conn.read()
            assert msg.kind == asock.KIND_AUDIO
            await conn.send_audio(b"\x01\x00" * 160)
            await conn.hangup()
            data = await asyncio.wait_for(r4.readexactly(3 + 320 + 3), 2)
            assert data[:3] == b"\x10\x01\x40" and data[-3:] == b"\x00\x00\x00"
            await conn.close()
            w4.close()
            assert server.rejected == 1
        finally:
            await server.close()

    asyncio.run(main())


def test_server_caps_connections_waiting_for_a_uuid():
    async def main():
        server = asock.AudioSocketServer("127.0.0.1", 0, uuid_timeout_s=5, max_pending=2)
        await server.start()
        try:
            idle = [await asyncio.open_connection("127.0.0.1", server.bound_port) for _ in range(2)]
            async with asyncio.timeout(5):
                while server._pending < 2:          # both accepted and waiting for a UUID
                    await asyncio.sleep(0.01)
            r, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
            assert await asyncio.wait_for(r.read(), 2) == b""       # the third is closed at once
            w.close()
            for _, writer in idle:
                writer.close()
        finally:
            await server.close()

    asyncio.run(main())
