"""The one place the tests touch Telethon internals (pinned to Telethon 1.45 in pyproject.toml).

A real `TelegramClient`, never connected, whose `_sender` (the MTProtoSender) is replaced by FakeSender: all of
Telethon's request building, flood-wait memory and error classes run; only the network is replaced by
fake_telegram.FakeTelegram. Faults become Telethon's own exception classes through `rpc_message_to_error`.
"""

import asyncio

from fake_telegram import FakeTelegram, Fault
from telethon import TelegramClient, errors
from telethon.tl import types


class FakeSender:
    """Stands in for MTProtoSender: `send` returns a future answered by the fake server."""

    def __init__(self, server: FakeTelegram):
        self.server = server
        self.connection_drops = 0  # the next N requests fail with ConnectionError, as a dropped link does

    def is_connected(self) -> bool:
        return True

    async def disconnect(self) -> None:
        pass

    def send(self, request, ordered=False):
        future = asyncio.get_running_loop().create_future()
        if self.connection_drops:
            self.connection_drops -= 1
            future.set_exception(ConnectionError("connection reset by the fake"))
            return future
        try:
            future.set_result(self.server.answer(request))
        except Fault as fault:
            future.set_exception(errors.rpc_message_to_error(types.RpcError(fault.code, fault.message), request))
        except ConnectionError as error:
            future.set_exception(error)
        return future


def fake_client(server: FakeTelegram) -> tuple[TelegramClient, FakeSender]:
    """A TelegramClient configured as uploader.telegram.new_client does, talking to `server`."""
    client = TelegramClient(None, 1, "x", flood_sleep_threshold=0, request_retries=1, raise_last_call_error=True)
    client._sender = FakeSender(server)
    return client, client._sender
