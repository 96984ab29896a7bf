"""The Telegram sender (Telethon over MTProto), with the commands that set it up: `tgvid login`, `tgvid check`.

Uploads go through our own part engine (uploader.parts: `upload.saveFilePart`, or `saveBigFilePart` above 10 MB,
`uploader.parallel_parts` in flight, resumed after a restart from the ledger), so a flood-waited or missing part is
saved again under the same file_id. Sends are hand-built
`messages.sendMedia` / `messages.sendMultiMedia` requests carrying the random_ids stored in the ledger: Telethon's
`send_file` would draw new ids and, for albums, drop each item's thumbnail and attributes. Album items are first
turned into server media with `messages.uploadMedia`, each right after its upload. Every error goes through the
table in uploader.telegram_errors: flood waits are waited out (and logged), network and server trouble is repeated
with backoff, and what remains becomes an error of our family: a refused file or album SendFailed(retry=False), a
chat we cannot post to or a login that is gone AccountError; tgvid.reaction decides from there (exit 4 for the
last).

The account is asked for itself (users.getUsers): bot or user, Premium or not. A bot may not read history, so
after a crash only the stored random_id guards against a second post (Telegram answers a repeated random_id with
the earlier message); a user's history look-up is a second line. The chat setting is read by tgvid.chatsetting
and resolved as uploader.chat describes.

Credentials (API hash, bot token, session string, phone number) are never logged. The login is kept as a
Telethon string session: from `telegram.session` (TGVID_TELEGRAM_SESSION), or in `<root>/<session_file>`,
written with mode 0600. A string session carries the data centre's address and key, so pointing the uploader
at Telegram's test servers or at a local fake needs no code change.
"""

import asyncio
import contextlib
import hashlib
import itertools
import logging
import mimetypes
import time
from collections.abc import Callable
from pathlib import Path

from telethon import TelegramClient, errors, utils
from telethon.helpers import generate_random_long
from telethon.sessions import StringSession
from telethon.tl import functions, types

from tgvid import chatsetting, durable
from tgvid.backoff import backoff_seconds
from tgvid.chatsetting import ChatKind, ChatRef
from tgvid.config import SAME_CHAT
from tgvid.errors import EXIT_FAILURE, EXIT_OK, AccountError, ConfigError, SendFailed, TgvidError
from tgvid.sidecar import MediaKind
from tgvid.units import MIB
from uploader import chat, parts
from uploader.album import sends_as_photo
from uploader.ledger import Ledger
from uploader.parts import Upload
from uploader.probe import streams_from_start
from uploader.sender import Interrupted, Item, Progress, Receipt
from uploader.telegram_errors import Handling, failure, handled_by, row_for

log = logging.getLogger(__name__)

LIMIT_BYTES = 2000 * MIB  # until help.getAppConfig says otherwise: upload_max_fileparts_default parts of 512 KiB
PREMIUM_LIMIT_BYTES = 4000 * MIB  # upload_max_fileparts_premium
CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096  # help.getConfig's message_length_max
NETWORK_ATTEMPTS = 5
STOP_POLL_SECONDS = 0.5
HISTORY_LIMIT = 100
CLOCK_SKEW_SECONDS = 300  # a message this much older than the intent to send may still be its send (clocks differ)

AS_DOCUMENT = handled_by(Handling.AS_DOCUMENT)
RESEND_PART = handled_by(Handling.RESEND_PART)
MIGRATIONS = 2  # a call is repeated this often on the data centre Telethon switched to
DIALOG_PAGE = 100
DIALOG_PAGES = 50  # a user's chat by id is looked for among their 5000 most recent dialogs
STALE_PEER = (errors.ChannelInvalidError, errors.PeerIdInvalidError, errors.ChannelPrivateError)


def aes_backend() -> str:
    """Which AES-IGE implementation Telethon encrypts every part with: cryptg, libssl (ctypes) or pure Python."""
    from telethon.crypto import aes, libssl

    if aes.cryptg is not None:
        return "cryptg"
    if libssl.encrypt_ige and libssl.decrypt_ige:
        return "libssl (install cryptg for faster uploads)"
    return "pure Python, about 0.5 MiB/s (install cryptg)"


class TelegramSender:
    def __init__(self, client: TelegramClient, loop: asyncio.AbstractEventLoop, chat: str, premium: bool,
                 should_stop: Callable[[], bool], sleep=asyncio.sleep, sign_in: Callable | None = None,
                 root: Path | None = None, ledger: Ledger | None = None, parallel_parts: int = 8,
                 part_bytes: int = 0, max_bytes_per_second: float = 0):
        """`sign_in(client)` is awaited when the session is not logged in; without it that is an AccountError.
        `premium` is the setting; the account's own flag wins once it is known. The resolved chat is remembered
        under `root` (uploader.chat), when given. Uploads are recorded in `ledger` (in the entry named by each
        item's key) and resumed from it; `parallel_parts` part requests are in flight at once, of `part_bytes`
        (0: uploader.parts chooses), at most `max_bytes_per_second` in all (0: no limit)."""
        self.client = client
        self.ledger = ledger
        self.parallel_parts = parallel_parts
        self.part_bytes = part_bytes
        self.pace = parts.Pace(max_bytes_per_second, self._wait)
        self.root = root
        self.sign_in = sign_in
        self.loop = loop
        self.chat = chat
        self.should_stop = should_stop
        self.sleep = sleep
        self.premium = premium
        self.max_file_bytes = PREMIUM_LIMIT_BYTES if premium else LIMIT_BYTES
        self.description = f"Telegram chat {chat}"
        self.me: types.User | None = None
        self.peer = None
        self.chat_title = ""
        self.peer_remembered = False  # the peer came from the memory file: a refusal may mean it is stale
        self.lookup_failure_logged = False
        self.notifiers: dict[str, TelegramSender] = {}  # senders to other chats, for notifications

    def send(self, items: list[Item], caption: str, progress: Progress) -> list[Receipt]:
        return self.loop.run_until_complete(self._send(items, caption[:CAPTION_LIMIT], progress))

    def find_sent(self, items: list[Item]) -> list[Receipt]:
        return self.loop.run_until_complete(self._find_sent(items))

    def notify(self, text: str, chat: str) -> None:
        """Post `text` as a message to `chat` (a chat setting; "same" is this sender's), resolved as the sender's
        own chat is, on the same connection, once a run (only the sender's own chat is remembered under the root)."""
        target = self if chat in (SAME_CHAT, self.chat) else self.notifiers.setdefault(chat, TelegramSender(
            self.client, self.loop, chat, self.premium, self.should_stop, self.sleep))
        target.me = target.me or self.me
        self.loop.run_until_complete(target._notify(text[:MESSAGE_LIMIT]))

    async def _notify(self, text: str) -> None:
        path = Path("notification")
        request = functions.messages.SendMessageRequest(await self._peer(path), text, random_id=generate_random_long())
        await self._invoke(request, path, network_retries=1)  # a lost answer may have posted it: not twice

    def close(self) -> None:
        close_client(self.client, self.loop)

    def start(self) -> None:
        """Connect, check the login and find the chat now, so that a wrong setting shows at start."""
        self.loop.run_until_complete(self._peer(Path("telegram")))

    async def _peer(self, path: Path):
        """The chat to send to; connects, logs in and resolves it on first use (again after a failed start)."""
        if self.peer is None:
            if not self.client.is_connected():
                log.info("telegram: connecting to data centre %d", self.client.session.dc_id)
                await self._call(self.client.connect(), path)
            if self.me is None:
                self.me = await self._account(path)
                self._take_premium(self.me)
                await self._read_limit(path)
            self.peer = await self._resolve(path)
        return self.peer

    async def _resolve(self, path: Path):
        """The InputPeer for the chat setting: remembered, or asked of Telegram as this kind of account may."""
        try:
            wanted = chatsetting.parse(self.chat)
        except ValueError as error:
            raise ConfigError("telegram.chat", str(error)) from error
        if wanted.kind is ChatKind.SELF:
            self.chat_title = "Saved Messages"
            return types.InputPeerSelf()
        known = chat.recall(self.root, self.chat, self.me.id) if self.root else None
        self.peer_remembered = known is not None
        if known is None:
            known = await self._look_up(wanted, path)
            if known is None:
                how = "" if self.me.bot else " (a user account finds a chat by id only among its dialogs: join it)"
                raise AccountError(f"telegram.chat {self.chat}", f"this account cannot find the chat{how}; "
                                   "check the setting (`tgvid check`)")
            if self.root:
                chat.remember(self.root, self.chat, self.me.id, known)
            log.info("telegram: chat %s is %s %d (%s)", self.chat, known.kind, known.peer_id, known.title)
        self.chat_title = known.title
        if known.kind is ChatKind.CHANNEL:
            return types.InputPeerChannel(known.peer_id, known.access_hash)
        if known.kind is ChatKind.GROUP:
            return types.InputPeerChat(known.peer_id)
        return types.InputPeerUser(known.peer_id, known.access_hash)

    async def _look_up(self, wanted: ChatRef, path: Path) -> chat.Remembered | None:
        if wanted.kind is ChatKind.USERNAME:
            found = await self._invoke(functions.contacts.ResolveUsernameRequest(wanted.username), path)
            peer_id = utils.get_peer_id(found.peer, add_mark=False)
            return next((remembered(entity) for entity in [*found.chats, *found.users] if entity.id == peer_id), None)
        if wanted.kind is ChatKind.GROUP:
            answer = await self._invoke(functions.messages.GetChatsRequest([wanted.peer_id]), path)
            return next((remembered(c) for c in answer.chats if c.id == wanted.peer_id), None)
        if self.me.bot:  # only a bot may name a user or channel with access hash 0
            if wanted.kind is ChatKind.CHANNEL:
                answer = await self._invoke(functions.channels.GetChannelsRequest(
                    [types.InputChannel(wanted.peer_id, 0)]), path)
                return next((remembered(c) for c in answer.chats if c.id == wanted.peer_id), None)
            users = await self._invoke(functions.users.GetUsersRequest([types.InputUser(wanted.peer_id, 0)]), path)
            return next((remembered(u) for u in users if u.id == wanted.peer_id), None)
        return await self._among_dialogs(wanted, path)

    async def _among_dialogs(self, wanted: ChatRef, path: Path) -> chat.Remembered | None:
        """Page through the user's dialogs (messages.getDialogs) for the chat: the only place a user learns a
        private channel's access hash."""
        offset_date, offset_id, offset_peer = None, 0, types.InputPeerEmpty()
        for _ in range(DIALOG_PAGES):
            answer = await self._invoke(functions.messages.GetDialogsRequest(
                offset_date, offset_id, offset_peer, limit=DIALOG_PAGE, hash=0), path)
            entities = {utils.get_peer_id(e): e for e in [*answer.chats, *answer.users]}
            for entity in entities.values():
                if entity.id == wanted.peer_id and isinstance(entity, types.User) == (wanted.kind is ChatKind.USER):
                    return remembered(entity)
            if not isinstance(answer, types.messages.DialogsSlice) or not answer.dialogs:
                return None
            last = answer.dialogs[-1]
            message = next((m for m in answer.messages if m.id == last.top_message), None)
            offset_date, offset_id = getattr(message, "date", None), last.top_message
            offset_peer = utils.get_input_peer(entities[utils.get_peer_id(last.peer)])
        return None

    async def _account(self, path: Path) -> types.User:
        """The logged-in account (users.getUsers(self)), signing in first when the session has no login.

        Not Telethon's `is_user_authorized()`, which takes any error (a flood wait, a server error) for "not
        logged in": here only AUTH_KEY_UNREGISTERED means that, and everything else goes through the error table.
        """
        me = types.InputUserSelf()
        try:
            [account] = await self._invoke(functions.users.GetUsersRequest([me]), path,
                                           own=(errors.AuthKeyUnregisteredError,))
        except errors.AuthKeyUnregisteredError as error:
            if self.sign_in is None:
                raise failure(error, path, self.chat) from error
            await self._call(self.sign_in(self.client), path)
            [account] = await self._invoke(functions.users.GetUsersRequest([me]), path)
        log.info("telegram: logged in as a %s%s account", "bot" if account.bot else "user",
                 ", Premium" if account.premium else "")
        return account

    def _take_premium(self, account: types.User) -> None:
        """The account says whether it is Premium; a setting that says otherwise is logged once and overruled."""
        premium = bool(account.premium)
        if premium != self.premium:
            log.warning("telegram: uploader.premium is %s but the account is %s; going by the account",
                        str(self.premium).lower(), "Premium" if premium else "not Premium")
        self.premium = premium
        self.max_file_bytes = PREMIUM_LIMIT_BYTES if premium else LIMIT_BYTES

    def can_post(self) -> str:
        """Why this account may not post files to the chat, or "" when it may (asks Telegram for the chat)."""
        return self.loop.run_until_complete(self._cannot_post(Path("telegram")))

    async def _cannot_post(self, path: Path) -> str:
        peer = await self._peer(path)
        if isinstance(peer, types.InputPeerChannel):
            answer = await self._invoke(functions.channels.GetChannelsRequest(
                [types.InputChannel(peer.channel_id, peer.access_hash)]), path)
            entity = answer.chats[0]
            rights = entity.admin_rights
            if entity.broadcast:
                if entity.creator or (rights and rights.post_messages):
                    return ""
                return "a channel needs the account to be an admin with the right to post messages"
        elif isinstance(peer, types.InputPeerChat):
            answer = await self._invoke(functions.messages.GetChatsRequest([peer.chat_id]), path)
            entity = answer.chats[0]
            if isinstance(entity, types.ChatForbidden) or getattr(entity, "left", False):
                return "the account is not a member of this group"
        else:
            return ""
        banned = getattr(entity, "banned_rights", None) or getattr(entity, "default_banned_rights", None)
        if banned and (banned.send_messages or banned.send_media) and not (entity.creator or entity.admin_rights):
            return "members may not send media in this group"
        return ""

    async def _read_limit(self, path: Path) -> None:
        """Take the file size limit from help.getAppConfig (part count × 512 KiB); keep the default without it
        (a bot may not call it: BOT_METHOD_INVALID)."""
        if self.me.bot:
            return
        try:
            answer = await self._invoke(functions.help.GetAppConfigRequest(hash=0), path)
        except SendFailed as error:
            log.info("telegram: no app config (%s); assuming %d MiB per file", error.reason, self.max_file_bytes // MIB)
            return
        values = getattr(getattr(answer, "config", None), "value", [])
        key = "upload_max_fileparts_premium" if self.premium else "upload_max_fileparts_default"
        part_count = next((v.value.value for v in values if v.key == key and isinstance(v.value, types.JsonNumber)),
                          None)
        if part_count:
            self.max_file_bytes = int(part_count) * parts.BIG_FILE_PART_BYTES

    async def _send(self, items: list[Item], caption: str, progress: Progress) -> list[Receipt]:
        receipts = await self._send_items(items, caption, progress)
        for item in items:  # sent: the parts are no longer needed (the delivery's next ledger write drops them)
            entry = self.ledger.get(item.key) if self.ledger is not None else None
            if entry is not None:
                entry.upload = None
        return receipts

    async def _send_items(self, items: list[Item], caption: str, progress: Progress) -> list[Receipt]:
        peer = await self._peer(items[0].path)
        if len(items) == 1:
            item = items[0]
            media, uploads = await self._upload_media(item, progress)
            try:
                return await self._send_media(item, uploads, lambda m=media: functions.messages.SendMediaRequest(
                    peer, m, message=own_caption(item, caption), random_id=item.random_id), own=AS_DOCUMENT)
            except AS_DOCUMENT as error:
                log.warning("%s: not taken as a photo (%s); sending it as a document", item.name, error)
                document = self._document(item, media.file)
                return await self._send_media(item, uploads, lambda: functions.messages.SendMediaRequest(
                    peer, document, message=own_caption(item, caption), random_id=item.random_id))
        singles = []
        for index, item in enumerate(items):
            # Each item becomes server media right after its upload: its parts cannot expire while the next
            # items upload (api/files: parts live minutes to hours).
            media, uploads = await self._upload_media(item, progress)
            server_media = await self._send_media(
                item, uploads, lambda m=media: functions.messages.UploadMediaRequest(peer, m), answer=True)
            singles.append(types.InputSingleMedia(self._server_media(item, server_media), random_id=item.random_id,
                                                  message=own_caption(item, caption if index == 0 else "")))
        return await self._send_media(items[0], (), lambda: functions.messages.SendMultiMediaRequest(peer, singles))

    async def _send_media(self, item: Item, uploads: tuple[Upload, ...], request: Callable, answer: bool = False,
                          own: tuple[type[BaseException], ...] = ()):
        """Call `request()` (made anew for each try, with the same random_id): save missing parts of `uploads`
        (the file and its thumbnail) again. Telegram names only the part's number, so each upload that has a part
        of that number saves it again."""
        losses = 0
        for _ in range(NETWORK_ATTEMPTS):
            try:
                result = await self._invoke(request(), item.path, network_retries=1 if not answer else NETWORK_ATTEMPTS,
                                            own=own + RESEND_PART)
            except (errors.FilePartMissingError, errors.FilePart0MissingError) as error:
                which = getattr(error, "which", 0)
                lost = [upload for upload in uploads if which < upload.parts]
                if not lost:
                    raise SendFailed(item.path, f"Telegram lost a part ({error})", retry=True) from error
                # A second loss in one send means the storage dropped more (parts expire, api/files): save all
                # parts from that one on, rather than learning of them one send at a time.
                again = "it" if not losses else "it and every later part"
                log.warning("%s: Telegram lost part %d; saving %s again", item.name, which, again)
                for upload in lost:
                    numbers = [which] if not losses else list(range(which, upload.parts))
                    await parts.send_parts(numbers, self.parallel_parts, lambda part, upload=upload: self._invoke(
                        self._part_request(upload, part, upload.read(part)), item.path))
                losses += 1
                continue
            return result if answer else self._receipts(item, result)
        raise SendFailed(item.path, "Telegram kept losing uploaded parts", retry=True)

    def _receipts(self, item: Item, result) -> list[Receipt]:
        ids = {u.random_id: u.id for u in getattr(result, "updates", []) if isinstance(u, types.UpdateMessageID)}
        if not ids:
            raise SendFailed(item.path, "Telegram's answer named no message; looking it up on the next attempt",
                             retry=True)
        return [Receipt(random_id, message_id, self.description) for random_id, message_id in ids.items()]

    async def _invoke(self, request, path: Path, network_retries: int = NETWORK_ATTEMPTS,
                      own: tuple[type[BaseException], ...] = ()):
        """Send one request and handle its errors as uploader.telegram_errors' table says: wait out flood waits,
        repeat after a data-centre switch, repeat network and server trouble with backoff; raise the rest as the
        errors of our family the table names, except the types in `own`, which the caller handles (raised as
        they are).

        A send is given `network_retries=1`: when its answer is lost, it may have been applied, so the
        daemon's next attempt looks the message up in the chat (users) or relies on the random_id before sending
        again.
        """
        for attempt in itertools.count(1):
            if self.should_stop():
                raise Interrupted()
            try:
                return await self._until_stopped(self.client(request))
            except (Interrupted, TgvidError):
                raise
            except Exception as error:  # every error gets a decision from the table
                handling = row_for(error).handling
                if self.peer_remembered and isinstance(error, STALE_PEER) and self.root:
                    chat.forget(self.root)
                    self.peer, self.peer_remembered = None, False
                    raise SendFailed(path, f"Telegram refused the remembered chat ({error.__class__.__name__}); "
                                           "finding it again", retry=True, network=True) from error
                if isinstance(error, own):
                    raise
                if handling is Handling.WAIT:
                    log.warning("%s: Telegram asks to wait %d s (%s); waiting", path.name, error.seconds,
                                error.__class__.__name__)
                    await self._wait(error.seconds)
                    continue
                if handling is Handling.MIGRATE and attempt <= MIGRATIONS:
                    log.info("%s: the account lives in data centre %d; asking there", path.name, error.new_dc)
                    continue
                if (handling is not Handling.REPEAT or attempt >= network_retries
                        or isinstance(error, errors.RandomIdDuplicateError)):
                    raise failure(error, path, self.chat) from error
                delay = backoff_seconds(attempt, base_seconds=1.0, cap_seconds=30.0)
                log.warning("%s: %s (%s); retrying in %.0f s", path.name, error.__class__.__name__, error, delay)
                await self._wait(delay)
                if not self.client.is_connected():
                    await self._call(self.client.connect(), path)

    async def _call(self, coroutine, path: Path):
        """Await one of Telethon's own coroutines (connect, sign-in, resolve), its errors decided by the table."""
        try:
            return await self._until_stopped(coroutine)
        except (Interrupted, TgvidError):
            raise
        except Exception as error:
            raise failure(error, path, self.chat) from error

    async def _until_stopped(self, awaitable):
        """Await `awaitable`, but give up (raising Interrupted) within a second of the daemon being asked to stop:
        a slow part, an answer that does not come or a connect that times out must not hold up a SIGTERM."""
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            await asyncio.wait({task}, timeout=STOP_POLL_SECONDS)
            if self.should_stop() and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise Interrupted()
        return task.result()

    async def _wait(self, seconds: float) -> None:
        """Sleep `seconds`, but stop early (raising Interrupted) when the daemon is asked to stop."""
        left = seconds
        while left > 0:
            if self.should_stop():
                raise Interrupted()
            await self.sleep(min(left, 0.5))
            left -= 0.5

    async def _upload_media(self, item: Item, progress: Progress):
        meta = item.sidecar
        size = item.path.stat().st_size
        file, upload = await self._upload(item, size, lambda done: progress(item, done, size), item.path)
        if sends_as_photo(meta, item.name):
            return types.InputMediaUploadedPhoto(file), (upload,)
        if meta.kind is not MediaKind.VIDEO:
            return self._document(item, file), (upload,)
        thumb, uploads = None, (upload,)
        if meta.thumbnail_jpeg:
            thumb, thumb_upload = await self._upload(item, len(meta.thumbnail_jpeg), lambda done: None,
                                                     meta.thumbnail_jpeg, "thumb.jpg")
            uploads = (upload, thumb_upload)
        attributes = [
            # supports_streaming is believed, not checked (td#1961): claimed only with the index first
            types.DocumentAttributeVideo(meta.duration_seconds, meta.width, meta.height,
                                         supports_streaming=streams_from_start(item.path), nosound=not meta.has_audio),
            types.DocumentAttributeFilename(item.name),
        ]
        return types.InputMediaUploadedDocument(file, "video/mp4", attributes, thumb=thumb,
                                                nosound_video=not meta.has_audio), uploads

    def _document(self, item: Item, file) -> types.InputMediaUploadedDocument:
        mime = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
        return types.InputMediaUploadedDocument(file, mime, [types.DocumentAttributeFilename(item.name)],
                                                force_file=True)

    async def _upload(self, item: Item, size: int, progress: Callable[[int], None], source: Path | bytes,
                      name: str = ""):
        """Save `size` bytes of `source` in parts, several in flight; return the InputFile and the Upload.

        A file (not a thumbnail) whose ledger entry holds an upload that may be resumed (uploader.parts) goes on
        under that file_id with the parts not yet confirmed; otherwise a new upload is recorded before the first
        part."""
        entry = self.ledger.get(item.key) if self.ledger is not None and item.key and isinstance(source, Path) else None
        resumed = entry is not None and parts.resumable(entry.upload, source, time.time())
        if entry is not None and not resumed:
            if entry.upload is not None:
                log.info("%s: the earlier upload is too old or the file changed; starting afresh", item.name)
            entry.upload = parts.new_record(source, parts.part_bytes_for(size, self.part_bytes), time.time())
            self.ledger.save()
        record = entry.upload if entry is not None else None
        part_bytes = record.part_bytes if record else parts.part_bytes_for(size, self.part_bytes)
        upload = Upload(record.file_id if record else parts.new_file_id(), part_bytes, max(1, -(-size // part_bytes)),
                        size > parts.BIG_FILE_BYTES, source)
        recorder = parts.Recorder(record, self.ledger if record else None)
        already = sum(upload.size_of(part, size) for part in recorder.confirmed)
        if resumed:
            log.info("%s: resuming its upload: %d of %d parts (%.1f of %.1f MiB) are with Telegram already", item.name,
                     len(recorder.confirmed), upload.parts, already / MIB, size / MIB)
        done = already
        started = time.monotonic()
        progress(done)

        async def send(part: int) -> None:
            nonlocal done
            data = upload.read(part)
            await self.pace.take(len(data))
            await self._invoke(self._part_request(upload, part, data), item.path)
            recorder.confirm(part)
            done += len(data)
            progress(done)

        try:
            await parts.send_parts([p for p in range(upload.parts) if p not in recorder.confirmed],
                                   self.parallel_parts, send)
        finally:
            recorder.finish()
        if isinstance(source, Path):
            seconds = time.monotonic() - started
            log.info("%s: %.1f MiB up in %.1f s, %.2f MiB/s on average%s", item.name, (done - already) / MIB, seconds,
                     (done - already) / MIB / max(seconds, 1e-6),
                     f" ({already / MIB:.1f} MiB were up already)" if already else "")
        name = name or item.name
        if upload.big:
            return types.InputFileBig(upload.file_id, upload.parts, name), upload
        md5 = hashlib.md5(source) if isinstance(source, bytes) else file_md5(source)
        return types.InputFile(upload.file_id, upload.parts, name, md5.hexdigest()), upload

    @staticmethod
    def _part_request(upload: Upload, part: int, data: bytes):
        if upload.big:
            return functions.upload.SaveBigFilePartRequest(upload.file_id, part, upload.parts, data)
        return functions.upload.SaveFilePartRequest(upload.file_id, part, data)

    @staticmethod
    def _server_media(item: Item, answer):
        """The InputMedia an album item needs, from messages.uploadMedia's answer."""
        if isinstance(answer, types.MessageMediaPhoto):
            return types.InputMediaPhoto(utils.get_input_photo(answer.photo))
        if isinstance(answer, types.MessageMediaDocument):
            return types.InputMediaDocument(utils.get_input_document(answer.document))
        raise SendFailed(item.path, f"Telegram turned it into {answer.__class__.__name__}", retry=False)

    async def _find_sent(self, items: list[Item]) -> list[Receipt]:
        """Our own recent messages in the chat that may carry one of `items` (same file name and size, posted after
        the intent to send it was recorded), newest first.

        A bot may not read history (BOT_METHOD_INVALID): for it the random_id the next send carries is the
        guarantee, since Telegram answers a repeated random_id with the earlier message. For a user this look-up
        is a second line only: when it fails, the files count as not found (the send's random_id still holds).
        """
        peer = await self._peer(items[0].path)
        if self.me.bot:
            return []
        try:
            history = await self._invoke(functions.messages.GetHistoryRequest(
                peer, offset_id=0, offset_date=None, add_offset=0, limit=HISTORY_LIMIT, max_id=0, min_id=0, hash=0),
                items[0].path, network_retries=1)
        except TgvidError as error:
            if not self.lookup_failure_logged:
                log.warning("telegram: cannot look sent files up in %s (%s); relying on each send's random_id",
                            self.chat, error.reason)
                self.lookup_failure_logged = True
            return []
        wanted = {(item.name, item.path.stat().st_size): item for item in items}
        found = []
        for message in history.messages:
            document = getattr(getattr(message, "media", None), "document", None)
            if not getattr(message, "out", False) or not isinstance(document, types.Document):
                continue
            for attribute in document.attributes:
                item = wanted.get((getattr(attribute, "file_name", None), document.size))
                if (isinstance(attribute, types.DocumentAttributeFilename) and item is not None
                        and message.date.timestamp() >= item.intent_at - CLOCK_SKEW_SECONDS):
                    found.append(Receipt(item.random_id, message.id, self.description, exact=False))
        return found


def own_caption(item: Item, batch_caption: str) -> str:
    """The item's own caption when it has one, else `batch_caption`; at most CAPTION_LIMIT characters."""
    return (batch_caption if item.caption is None else item.caption)[:CAPTION_LIMIT]


def file_md5(path: Path):
    """The MD5 of a small file (≤ 10 MB: InputFile carries it), read once more since parts go out of order."""
    md5 = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(MIB), b""):
            md5.update(chunk)
    return md5


def remembered(entity) -> chat.Remembered:
    """What to remember of a resolved User, Chat or Channel."""
    if isinstance(entity, types.Channel):
        return chat.Remembered(ChatKind.CHANNEL, entity.id, entity.access_hash or 0, entity.title)
    if isinstance(entity, types.Chat):
        return chat.Remembered(ChatKind.GROUP, entity.id, 0, entity.title)
    return chat.Remembered(ChatKind.USER, entity.id, entity.access_hash or 0, utils.get_display_name(entity))


def close_client(client: TelegramClient, loop: asyncio.AbstractEventLoop) -> None:
    """Disconnect inside `loop` (outside a running loop Telethon would pick a loop of its own) and close it."""

    async def disconnect():
        await client.disconnect()

    loop.run_until_complete(disconnect())
    loop.close()


def session_text(config) -> str:
    """The string session: from the setting (or TGVID_TELEGRAM_SESSION), else the session file, else ""."""
    if config.telegram.session:
        return config.telegram.session
    path = session_path(config)
    return path.read_text().strip() if path.exists() else ""


def session_path(config) -> Path:
    return Path(config.root) / config.telegram.session_file


def write_session(config, client: TelegramClient) -> None:
    """Write the login as a string session to the session file, mode 0600: it is a full credential."""
    durable.atomic_write(session_path(config), client.session.save().encode(), 0o600)


def new_client(config, request_retries: int = 0) -> TelegramClient:
    """The daemon's client: flood_sleep_threshold=0 and request_retries=0 (a single attempt) leave every wait and
    retry to TelegramSender, which logs them and can stop in the middle; raise_last_call_error keeps Telethon's
    error types. On PHONE_MIGRATE/USER_MIGRATE Telethon switches data centre, and repeats the call only when
    `request_retries` > 0: `tgvid login`, driven by Telethon's own prompts, needs that."""
    return TelegramClient(StringSession(session_text(config)), config.telegram.api_id, config.telegram.api_hash,
                          flood_sleep_threshold=0, request_retries=request_retries, raise_last_call_error=True)


def bot_sign_in(config) -> Callable:
    """The daemon's sign-in for a session without a login: the bot token's, or an AccountError asking for
    `tgvid login`. A bot homed in another data centre is answered USER_MIGRATE_X: Telethon switches, and the
    sign-in is asked again there."""

    async def sign_in(client):
        if not config.telegram.bot_token:
            raise AccountError(session_path(config), "no Telegram login: run `tgvid login`, or set telegram.bot_token")
        for attempt in itertools.count(1):
            try:
                await client.sign_in(bot_token=config.telegram.bot_token)
                break
            except errors.InvalidDCError as error:  # Telethon has switched to the bot's data centre: ask there
                if attempt > MIGRATIONS:
                    raise
                log.info("telegram: the bot lives in data centre %d; signing in there", error.new_dc)
        if not config.telegram.session:  # a session given in the environment stays there
            write_session(config, client)

    return sign_in


def connect(config, should_stop: Callable[[], bool], ledger: Ledger | None = None) -> TelegramSender:
    """A TelegramSender for the configured login and chat, started when Telegram can be reached.

    Raises ConfigError when there is no login or no such chat. When Telegram cannot be reached, the sender
    is returned all the same and connects when files are waiting, so a daemon started offline keeps running.
    """
    settings = config.uploader
    log.info("telegram: %d parts in flight, AES-IGE through %s", settings.parallel_parts, aes_backend())
    sender = TelegramSender(new_client(config), asyncio.new_event_loop(), config.telegram.chat, settings.premium,
                            should_stop, sign_in=bot_sign_in(config), root=Path(config.root), ledger=ledger,
                            parallel_parts=settings.parallel_parts, part_bytes=settings.part_kib * 1024,
                            max_bytes_per_second=settings.max_upload_mib_per_second * MIB)
    try:
        sender.start()
    except SendFailed as error:
        log.warning("%s; trying again when files are waiting", error.message)
    except BaseException:
        sender.close()
        raise
    return sender


def check(config, client: TelegramClient | None = None) -> int:
    """Log in, find the chat, check the right to post there, and print what the uploader would send with: exit 0
    when sending would work, 1 otherwise (with the reason). `client`: one talking to somewhere else (tests)."""
    sender = TelegramSender(client or new_client(config), asyncio.new_event_loop(), config.telegram.chat,
                            config.uploader.premium, lambda: False, sign_in=bot_sign_in(config), root=Path(config.root))
    try:
        sender.start()
        refusal = sender.can_post()
    except TgvidError as error:
        print(f"cannot send: {error.message}")
        return EXIT_FAILURE
    finally:
        dc = sender.client.session.dc_id
        sender.close()
    account = "bot" if sender.me.bot else ("Premium user" if sender.premium else "user")
    print(f"account: {utils.get_display_name(sender.me)} ({account}, data centre {dc})")
    print(f"chat: {sender.chat_title} ({config.telegram.chat})")
    print(f"file limit: {sender.max_file_bytes // MIB} MiB")
    if refusal:
        print(f"cannot send: {refusal}")
        return EXIT_FAILURE
    print("sending would work")
    return EXIT_OK


def login(config) -> int:
    """Log a user account in interactively (phone, code, 2FA password) and save the session file, mode 0600."""
    if not (config.telegram.api_id and config.telegram.api_hash):
        raise ConfigError("telegram.api_id", "set telegram.api_id and telegram.api_hash (from my.telegram.org) first")
    Path(config.root).mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    client = new_client(config, request_retries=MIGRATIONS)

    async def start():
        # Telethon prompts for the phone number, the code and the 2FA password; none of them is logged.
        await client.start(bot_token=config.telegram.bot_token or None)
        write_session(config, client)
        return await client.get_me()

    try:
        me = loop.run_until_complete(start())
    finally:
        close_client(client, loop)
    print(f"logged in as {utils.get_display_name(me)}; session saved in {session_path(config)} (mode 0600)")
    return EXIT_OK
