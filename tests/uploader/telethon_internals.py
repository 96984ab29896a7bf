"""The one place the tests touch Telethon internals (pinned to Telethon 1.45 in pyproject.toml).

A real `TelegramClient`, never connected, whose `_sender` (the MTProtoSender) is replaced by FakeSender: all of
Telethon's request building, flood-wait memory and error classes run; only the network is replaced by
fake_telegram.FakeTelegram. Faults become Telethon's own exception classes through `rpc_message_to_error`.

LoopbackDataCentre puts the same FakeTelegram behind MTProto on a TCP port, for real processes.
"""

import asyncio
import hashlib
import os
import struct
import threading
import time

from fake_telegram import FakeTelegram, Fault
from telethon import TelegramClient, errors
from telethon.crypto import AES, AuthKey
from telethon.extensions import BinaryReader
from telethon.network.connection.tcpfull import FullPacketCodec
from telethon.network.mtprotostate import MTProtoState
from telethon.sessions import StringSession
from telethon.tl import functions, types
from telethon.tl.core import GzipPacked, MessageContainer, RpcResult


class FakeSender:
    """Stands in for MTProtoSender: `send` returns a future answered by the fake server."""

    def __init__(self, server: FakeTelegram, dc: int = 2):
        self.server = server
        self.dc = dc  # the data centre this sender talks to; Telethon's _switch_dc reconnects it elsewhere
        self.connected = True
        self._disconnected = None
        self.auth_key = AuthKey(None)
        self.connection_drops = 0  # the next N requests fail with ConnectionError, as a dropped link does
        self.unanswered = 0  # the next N requests get no answer at all, as over a link that silently died

    def is_connected(self) -> bool:
        return self.connected

    @property
    def disconnected(self) -> asyncio.Future:
        """Awaited by Telethon's keep-alive loop after a connect(): done once disconnected."""
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
        return self._disconnected

    def _transport_connected(self) -> bool:
        return False  # no keep-alive pings

    async def connect(self, connection) -> bool:
        """Telethon reconnects through here after switching data centre; a fresh key stands for the key exchange."""
        self.dc = connection._dc_id
        if not self.auth_key:
            self.auth_key.key = os.urandom(256)
        self.connected = True
        return True

    async def disconnect(self) -> None:
        self.connected = False
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)
        self._disconnected = None

    def send(self, request, ordered=False):
        future = asyncio.get_running_loop().create_future()
        while isinstance(request, WRAPPERS):
            request = request.query
        if self.unanswered:
            self.unanswered -= 1
            return future
        if self.connection_drops:
            self.connection_drops -= 1
            future.set_exception(ConnectionError("connection reset by the fake"))
            return future
        try:
            future.set_result(self.server.answer(request, self.dc))
        except Fault as fault:
            future.set_exception(errors.rpc_message_to_error(types.RpcError(fault.code, fault.message), request))
        except ConnectionError as error:
            future.set_exception(error)
        return future


def fake_client(server: FakeTelegram, request_retries: int = 0) -> tuple[TelegramClient, FakeSender]:
    """A TelegramClient configured as uploader.telegram.new_client does, talking to `server` in data centre 2.

    Telethon keeps help.getConfig's answer on the class (`TelegramClient._config`, read when switching data
    centre); it is dropped here so that each fake's own data centres are used."""
    TelegramClient._config = None
    session = StringSession()
    session.set_dc(2, *server.data_centres[2])
    client = TelegramClient(session, 1, "x", flood_sleep_threshold=0, request_retries=request_retries,
                            raise_last_call_error=True)
    client._sender = FakeSender(server)
    return client, client._sender


def network_of(client: TelegramClient) -> FakeSender:
    """The FakeSender under a client made by fake_client, to drop or leave unanswered its next requests."""
    return client._sender


class LoopbackDataCentre:
    """A small MTProto server on 127.0.0.1 in front of a FakeTelegram, for real TCP faults and real processes.

    The auth key is shared in advance through `session_string()` (a Telethon string session naming this
    address), which skips the key exchange. It reads Telethon's default framing (ConnectionTcpFull), decrypts
    with MTProtoState's key derivation, unwraps containers, gzip, InvokeWithLayer and InitConnection, answers
    pings and the calls `connect()` makes, and passes everything else to the FakeTelegram. A Fault becomes an
    rpc_error; a ConnectionError raised while answering closes the connection without an answer.
    `authorized` False makes the server answer AUTH_KEY_UNREGISTERED until a sign-in, as for a fresh login (the
    data centre is the account's home: a second one would need the key exchange); `silent` True reads
    everything and answers nothing, like a link that died without closing. `part_delay_seconds` answers each
    upload part that much later, parts concurrently (a long round trip to a storage that takes parts in
    parallel, api/files): the part is stored on arrival, so parts in flight at a kill are with the server.
    """

    def __init__(self, server: FakeTelegram, authorized: bool = True, silent: bool = False,
                 part_delay_seconds: float = 0.0):
        self.server = server
        server.authorized = authorized
        self.silent = silent
        self.part_delay_seconds = part_delay_seconds
        self.auth_key = AuthKey(os.urandom(256))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="loopback-dc", daemon=True)
        self.writers: set[asyncio.StreamWriter] = set()
        self.last_msg_id = 0
        self.pending: set[asyncio.Task] = set()  # parts answered after part_delay_seconds
        self.broken = False  # set when answering raised: the fake, not the uploader, is wrong
        self.listener = None
        self.port = 0

    def __enter__(self):
        self.thread.start()
        self.listener = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self.loop).result(10)
        self.port = self.listener.sockets[0].getsockname()[1]
        self.server.data_centres = {self.server.home_dc: ("127.0.0.1", self.port)}  # connect() reads help.getConfig
        return self

    def __exit__(self, *exc_info):
        if exc_info[0] is None:
            assert not self.broken, "the loopback data centre failed to answer a request (see the log)"
        async def shut_down():
            for task in self.pending:
                task.cancel()
            self.listener.close()
            for writer in list(self.writers):
                writer.close()
            await self.listener.wait_closed()

        asyncio.run_coroutine_threadsafe(shut_down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def session_string(self) -> str:
        session = StringSession()
        session.set_dc(2, "127.0.0.1", self.port)
        session.auth_key = self.auth_key
        return session.save()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        codec = FullPacketCodec(None)
        try:
            while True:
                header = await reader.readexactly(8)
                length = struct.unpack("<i", header[:4])[0]
                packet = (await reader.readexactly(length - 8))[:-4]
                session_id, msg_id, obj = self._decrypt(packet)
                for inner_id, request in self._unwrap(msg_id, obj):
                    if self.silent:
                        continue
                    answer = self._answer(inner_id, request)
                    if self.part_delay_seconds and isinstance(request, PART_REQUESTS):
                        later = self._write_later(writer, codec.encode_packet(self._encrypt(session_id, answer)))
                        self.pending = {task for task in self.pending if not task.done()}
                        self.pending.add(asyncio.ensure_future(later))
                    elif answer is not None:
                        writer.write(codec.encode_packet(self._encrypt(session_id, answer)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # a fake that cannot answer would otherwise look like a network fault
            self.broken = True
            raise
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _write_later(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        """Write a part's answer after the delay: the part is stored on arrival, its confirmation comes later."""
        await asyncio.sleep(self.part_delay_seconds)
        if not writer.is_closing():
            writer.write(frame)

    def _decrypt(self, packet: bytes):
        msg_key = packet[8:24]
        aes_key, aes_iv = MTProtoState._calc_key(self.auth_key.key, msg_key, True)
        plain = AES.decrypt_ige(packet[24:], aes_key, aes_iv)
        _salt, session_id, msg_id, _seq, length = struct.unpack("<qqqii", plain[:32])
        return session_id, msg_id, BinaryReader(plain[32 : 32 + length]).tgread_object()

    def _encrypt(self, session_id: int, body: bytes) -> bytes:
        self.last_msg_id = max(self.last_msg_id + 4, (int(time.time()) << 32) + 1)  # odd and rising
        data = struct.pack("<qqqii", 0, session_id, self.last_msg_id, 1, len(body)) + body
        padding = os.urandom(-(len(data) + 12) % 16 + 12)
        msg_key = hashlib.sha256(self.auth_key.key[96:128] + data + padding).digest()[8:24]
        aes_key, aes_iv = MTProtoState._calc_key(self.auth_key.key, msg_key, False)
        return struct.pack("<Q", self.auth_key.key_id) + msg_key + AES.encrypt_ige(data + padding, aes_key, aes_iv)

    def _unwrap(self, msg_id: int, obj):
        if isinstance(obj, MessageContainer):
            for message in obj.messages:
                yield from self._unwrap(message.msg_id, message.obj)
        elif isinstance(obj, GzipPacked):
            yield from self._unwrap(msg_id, BinaryReader(obj.data).tgread_object())
        else:
            yield msg_id, obj

    def _answer(self, msg_id: int, request) -> bytes | None:
        """The answer's bytes, or None for an acknowledgement."""
        while isinstance(request, WRAPPERS):
            request = request.query
        if isinstance(request, types.MsgsAck):
            return None
        if isinstance(request, functions.PingDelayDisconnectRequest | functions.PingRequest):
            return bytes(types.Pong(msg_id, request.ping_id))
        try:
            result = self._result(request)
        except Fault as fault:
            result = types.RpcError(fault.code, fault.message)
        return struct.pack("<Iq", RpcResult.CONSTRUCTOR_ID, msg_id) + serialize(result)

    def _result(self, request):
        return self.server.answer(request, self.server.home_dc)


PART_REQUESTS = (functions.upload.SaveFilePartRequest, functions.upload.SaveBigFilePartRequest)
WRAPPERS = (functions.InvokeWithLayerRequest, functions.InitConnectionRequest, functions.InvokeWithoutUpdatesRequest,
            functions.InvokeAfterMsgRequest)


def serialize(result) -> bytes:
    """A result as it goes on the wire: bools and vectors are written by hand, like Telethon reads them."""
    if result is True or result is False:
        return struct.pack("<I", 0x997275B5 if result else 0xBC799737)
    if isinstance(result, list):
        return struct.pack("<Ii", 0x1CB5C415, len(result)) + b"".join(bytes(item) for item in result)
    return bytes(result)
