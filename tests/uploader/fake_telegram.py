"""A model of the Telegram server side an uploader talks to, built from real TL objects.

It keeps what the tests assert on: every request received, the parts saved per file_id, the messages posted
(with the random_id each carried) and the server's random_id dedup, which can be switched off to test the
uploader's own history lookup. Faults are queued per request type. `answer(request)` returns the TL answer or
raises Fault(code, message); telethon_internals puts it behind a real TelegramClient, and the loopback data
centre behind real TCP.
"""

import datetime
import itertools
from dataclasses import dataclass, field

from telethon.tl import types

PART_LIMIT = 4000


class Fault(Exception):
    """An RPC error as Telegram would answer it, such as (420, "FLOOD_WAIT_3")."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


@dataclass
class Posted:
    message: types.Message
    random_id: int
    media: object  # the InputMedia the send carried (for albums: the one given to messages.uploadMedia)


@dataclass
class FakeTelegram:
    dedup: bool = True
    requests: list = field(default_factory=list)
    parts: dict = field(default_factory=dict)  # file_id -> {part: bytes}
    posted: list[Posted] = field(default_factory=list)
    faults: dict = field(default_factory=dict)  # request class -> [Fault or callable(request) -> Fault | None]
    uploaded_media: dict = field(default_factory=dict)  # document or photo id -> the InputMediaUploaded* it came from
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    pts: int = 1  # the update sequence of the account, as updates.getState reports it
    max_parts: int = PART_LIMIT  # upload_max_fileparts_default in help.getAppConfig

    def fail(self, request_type, *faults) -> None:
        """Answer the next requests of `request_type` with `faults` in turn: a Fault, or a callable of the request
        returning one (or None to answer normally)."""
        self.faults.setdefault(request_type, []).extend(faults)

    def lose_reply(self, request_type) -> None:
        """Apply the next request of `request_type`, then drop the connection before the answer gets out."""

        def apply_then_lose(request):
            getattr(self, "_" + type(request).__name__)(request)
            raise ConnectionError("the reply was lost after the server applied the request")

        self.fail(request_type, apply_then_lose)

    def file_bytes(self, input_file) -> bytes:
        saved = self.parts[input_file.id]
        return b"".join(saved[index] for index in range(input_file.parts))

    def messages_named(self, name: str) -> list[types.Message]:
        return [p.message for p in self.posted if name in file_names(p.message.media)]

    def answer(self, request):
        self.requests.append(request)
        queued = self.faults.get(type(request))
        if queued:
            fault = queued.pop(0)
            fault = fault(request) if callable(fault) else fault
            if fault is not None:
                raise fault
        handler = getattr(self, "_" + type(request).__name__, None)
        if handler is None:
            raise Fault(400, f"FAKE_UNSUPPORTED_{type(request).__name__.upper()}")
        return handler(request)

    def _SaveFilePartRequest(self, request):
        self.parts.setdefault(request.file_id, {})[request.file_part] = request.bytes
        return True

    def _SaveBigFilePartRequest(self, request):
        if request.file_total_parts > self.max_parts:
            raise Fault(400, "FILE_PARTS_INVALID")
        return self._SaveFilePartRequest(request)

    def _check_file(self, input_file) -> None:
        saved = self.parts.get(input_file.id, {})
        for index in range(input_file.parts):
            if index not in saved:
                raise Fault(400, "FILE_PART_0_MISSING" if index == 0 else f"FILE_PART_{index}_MISSING")

    def _server_media(self, media):
        """What Telegram makes of an uploaded media: a MessageMediaDocument or MessageMediaPhoto."""
        now = datetime.datetime.now(datetime.UTC)
        if isinstance(media, types.InputMediaUploadedPhoto):
            self._check_file(media.file)
            photo = types.Photo(next(self.ids), 1, b"ref", now, [types.PhotoSize("x", 64, 64, 100)], 2)
            self.uploaded_media[photo.id] = media
            return types.MessageMediaPhoto(photo=photo)
        if isinstance(media, types.InputMediaUploadedDocument):
            self._check_file(media.file)
            size = len(self.file_bytes(media.file))
            document = types.Document(next(self.ids), 1, b"ref", now, media.mime_type, size, 2, media.attributes)
            self.uploaded_media[document.id] = media
            return types.MessageMediaDocument(document=document)
        raise Fault(400, "MEDIA_EMPTY")

    def _UploadMediaRequest(self, request):
        return self._server_media(request.media)

    def _post(self, random_id, server_media, caption, origin):
        if self.dedup:
            for earlier in self.posted:
                if earlier.random_id == random_id:
                    return earlier.message
        message = types.Message(next(self.ids), types.PeerUser(1), datetime.datetime.now(datetime.UTC), caption,
                                out=True, media=server_media)
        self.posted.append(Posted(message, random_id, origin))
        return message

    def _updates(self, pairs):
        updates = []
        for random_id, message in pairs:
            self.pts += 1
            updates += [types.UpdateMessageID(message.id, random_id), types.UpdateNewMessage(message, self.pts, 1)]
        return types.Updates(updates, [], [], datetime.datetime.now(datetime.UTC), 0)

    def _SendMediaRequest(self, request):
        message = self._post(request.random_id, self._server_media(request.media), request.message, request.media)
        return self._updates([(request.random_id, message)])

    def _SendMultiMediaRequest(self, request):
        items = request.multi_media
        if not 2 <= len(items) <= 10:
            raise Fault(400, "MULTI_MEDIA_TOO_LONG" if len(items) > 10 else "MEDIA_INVALID")
        media = []
        for item in items:
            if not isinstance(item.media, types.InputMediaDocument | types.InputMediaPhoto):
                raise Fault(400, "MEDIA_INVALID")
            media.append((item, self.uploaded_media[item.media.id.id]))
        if len({bool(getattr(m, "force_file", False)) for _, m in media}) > 1:
            raise Fault(400, "MEDIA_GROUPED_INVALID")
        pairs = []
        for item, origin in media:
            server_media = self._server_media(origin)
            pairs.append((item.random_id, self._post(item.random_id, server_media, item.message, origin)))
        return self._updates(pairs)

    def _GetAppConfigRequest(self, request):
        limits = [types.JsonObjectValue("upload_max_fileparts_default", types.JsonNumber(self.max_parts)),
                  types.JsonObjectValue("upload_max_fileparts_premium", types.JsonNumber(2 * self.max_parts))]
        return types.help.AppConfig(1, types.JsonObject(limits))

    def _GetStateRequest(self, request):
        return types.updates.State(self.pts, 0, datetime.datetime.now(datetime.UTC), 0, 0)

    def _GetHistoryRequest(self, request):
        newest_first = [p.message for p in reversed(self.posted)][: request.limit]
        return types.messages.Messages(newest_first, [], [], [])


def file_names(media) -> list[str]:
    """The file names in a MessageMedia, an InputMedia, or a request carrying one."""
    media = getattr(media, "media", media)
    attributes = getattr(getattr(media, "document", media), "attributes", None) or []
    return [a.file_name for a in attributes if isinstance(a, types.DocumentAttributeFilename)]


def request_types(requests) -> list[str]:
    return [type(r).__name__ for r in requests]

