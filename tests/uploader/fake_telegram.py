"""A model of the Telegram server side an uploader talks to, built from real TL objects.

It keeps what the tests assert on: every request received (`part_numbers` lists the parts among them), the
parts saved per file_id, the messages posted
(with the random_id each carried) and the server's random_id dedup, which can be switched off to test the
uploader's own history lookup. Faults are queued per request type. `answer(request, dc)` returns the TL answer or
raises Fault(code, message); telethon_internals puts it behind a real TelegramClient, and the loopback data
centre behind real TCP.

The rules it models, each with its source (../shared/TELEGRAM.md has the longer story), so that each can be
checked against the real service:
- random_ids: a repeated random_id towards the same peer returns the earlier message; they never expire
  (core.telegram.org/api/updates). `dedup=False` switches this off.
- parts: a send naming a part the server does not hold gets FILE_PART_X_MISSING (FILE_PART_0_MISSING is its own
  error), the thumbnail's parts as the file's; parts expire ("between several minutes and several hours",
  api/files): `expire_parts()`. Server media made by messages.uploadMedia no longer needs the parts. More than
  upload_max_fileparts_default parts: FILE_PARTS_INVALID (api/files, help.getAppConfig).
- albums: 2 to 10 items, each an InputMediaDocument/InputMediaPhoto made by messages.uploadMedia, else
  MEDIA_INVALID / MULTI_MEDIA_TOO_LONG; documents do not mix with media (MEDIA_GROUPED_INVALID) (api/files
  "Albums", Telethon `_send_album`).
- account kinds: methods Telethon's method table (telethon_generator/data/methods.csv, column "usability") marks
  `user` — messages.getHistory, messages.search, messages.getDialogs, help.getAppConfig — answer a bot with
  400 BOT_METHOD_INVALID (Telethon#1065). users.getUsers(self) carries `bot` and `premium`.
- login: without one, calls answer 401 AUTH_KEY_UNREGISTERED; auth.sendCode/signIn/checkPassword and
  auth.importBotAuthorization log in. 2FA: signIn answers SESSION_PASSWORD_NEEDED; the fake takes any SRP proof
  (it does not check the password).
- data centres (core.telegram.org/api/datacenter): the account lives in `home_dc`; auth.sendCode asked elsewhere
  answers PHONE_MIGRATE_X, auth.signIn and auth.importBotAuthorization USER_MIGRATE_X.
- chats: access hashes are per account (api/peers "access_hash"). A channel named with a wrong hash (hash 0 for a
  user) answers CHANNEL_INVALID; only a bot may use hash 0 (channels.getChannels, users.getUsers; Telethon
  `get_input_entity`). A user learns a private channel's hash from messages.getDialogs. contacts.resolveUsername
  finds public usernames only, and is rate-limited (FLOOD_WAIT after `resolve_limit` calls). Posting to a
  broadcast channel needs the post_messages admin right (CHAT_ADMIN_REQUIRED); a chat the account is not in
  answers CHANNEL_PRIVATE.
"""

import datetime
import itertools
from dataclasses import dataclass, field

from telethon.tl import functions, types

PART_LIMIT = 4000
MESSAGE_LENGTH_MAX = 4096  # help.getConfig's message_length_max
ACCOUNT_ID = 1
USER_ONLY = (functions.messages.GetHistoryRequest, functions.messages.SearchRequest,
             functions.messages.GetDialogsRequest, functions.help.GetAppConfigRequest)
DATA_CENTRES = {number: (f"149.154.167.{number}", 443) for number in range(1, 6)}


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
    # document or photo id -> (the InputMediaUploaded* it came from, the server media): once made, server media no
    # longer needs the parts
    uploaded_media: dict = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    pts: int = 1  # the update sequence of the account, as updates.getState reports it
    max_parts: int = PART_LIMIT  # upload_max_fileparts_default in help.getAppConfig
    bot: bool = False
    premium: bool = False
    authorized: bool = True
    home_dc: int = 2
    password: str = ""  # a 2FA password: signIn then answers SESSION_PASSWORD_NEEDED
    data_centres: dict = field(default_factory=lambda: dict(DATA_CENTRES))  # id -> (address, port)
    chats: dict = field(default_factory=dict)  # id -> Channel | Chat the account is in (it may post or not)
    resolves: int = 0
    resolve_limit: int = 5

    def add_channel(self, channel_id: int, title: str, username: str | None = None, can_post: bool = True,
                    broadcast: bool = True) -> types.Channel:
        rights = types.ChatAdminRights(post_messages=True) if can_post and broadcast else None
        channel = types.Channel(channel_id, title, types.ChatPhotoEmpty(), None, broadcast=broadcast,
                                megagroup=not broadcast, access_hash=self.access_hash(channel_id), username=username,
                                admin_rights=rights)
        self.chats[channel_id] = channel
        return channel

    def add_group(self, chat_id: int, title: str) -> types.Chat:
        self.chats[chat_id] = types.Chat(chat_id, title, types.ChatPhotoEmpty(), 2, None, 1)
        return self.chats[chat_id]

    def access_hash(self, peer_id: int) -> int:
        """The access hash this account sees for a peer (bots and users see different ones)."""
        return (peer_id * 7919 + (2 if self.bot else 1)) % 2**62

    def me(self) -> types.User:
        return types.User(ACCOUNT_ID, is_self=True, bot=self.bot, premium=self.premium, access_hash=1,
                          first_name="Fake", bot_info_version=1 if self.bot else None)

    def expire_parts(self) -> None:
        """The storage dropped every part it held (api/files: parts live minutes to hours)."""
        self.parts.clear()

    def part_numbers(self, file_id: int | None = None) -> list[int]:
        """The part numbers received so far, in order of arrival, repeats included (of one file_id, when given)."""
        return [r.file_part for r in list(self.requests) if isinstance(r, PART_REQUESTS)
                and (file_id is None or r.file_id == file_id)]

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

    def answer(self, request, dc: int = 2):
        """The answer to `request` arriving at data centre `dc`."""
        self.requests.append(request)
        queued = self.faults.get(type(request))
        if queued:
            fault = queued.pop(0)
            fault = fault(request) if callable(fault) else fault
            if fault is not None:
                raise fault
        if isinstance(request, functions.auth.SendCodeRequest) and dc != self.home_dc:
            raise Fault(303, f"PHONE_MIGRATE_{self.home_dc}")
        if isinstance(request, LOGIN_REQUESTS) and dc != self.home_dc:
            raise Fault(303, f"USER_MIGRATE_{self.home_dc}")
        if not self.authorized and not isinstance(request, (*LOGIN_REQUESTS, *OPEN_REQUESTS)):
            raise Fault(401, "AUTH_KEY_UNREGISTERED")
        if self.bot and isinstance(request, USER_ONLY):
            raise Fault(400, "BOT_METHOD_INVALID")
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
            self.uploaded_media[photo.id] = (media, types.MessageMediaPhoto(photo=photo))
            return self.uploaded_media[photo.id][1]
        if isinstance(media, types.InputMediaUploadedDocument):
            self._check_file(media.file)
            if media.thumb is not None:  # the thumbnail's parts are checked as the file's are
                self._check_file(media.thumb)
            size = len(self.file_bytes(media.file))
            document = types.Document(next(self.ids), 1, b"ref", now, media.mime_type, size, 2, media.attributes)
            self.uploaded_media[document.id] = (media, types.MessageMediaDocument(document=document))
            return self.uploaded_media[document.id][1]
        raise Fault(400, "MEDIA_EMPTY")

    def _UploadMediaRequest(self, request):
        self._check_peer(request.peer)
        return self._server_media(request.media)

    def _post(self, random_id, server_media, caption, origin, peer=None):
        peer = peer or types.PeerUser(ACCOUNT_ID)
        if self.dedup:
            for earlier in self.posted:
                if earlier.random_id == random_id and earlier.message.peer_id == peer:
                    return earlier.message
        message = types.Message(next(self.ids), peer, datetime.datetime.now(datetime.UTC), caption,
                                out=True, media=server_media)
        self.posted.append(Posted(message, random_id, origin))
        return message

    def _updates(self, pairs):
        updates = []
        for random_id, message in pairs:
            self.pts += 1
            new = (types.UpdateNewChannelMessage if isinstance(message.peer_id, types.PeerChannel)
                   else types.UpdateNewMessage)(message, self.pts, 1)
            updates += [types.UpdateMessageID(message.id, random_id), new]
        peers = {getattr(message.peer_id, "channel_id", None) for _, message in pairs}
        chats = [self.chats[peer] for peer in peers if peer in self.chats]  # Updates carry the chats they name
        return types.Updates(updates, [], chats, datetime.datetime.now(datetime.UTC), 0)

    def _check_peer(self, peer, posting: bool = False):
        """The chat `peer` names, as Telegram checks it: a right access hash, membership, the right to post."""
        if isinstance(peer, types.InputPeerSelf):
            return types.PeerUser(ACCOUNT_ID)
        if isinstance(peer, types.InputPeerChat | types.InputPeerChannel):
            peer_id = getattr(peer, "chat_id", None) or peer.channel_id
            chat = self.chats.get(peer_id)
            if isinstance(peer, types.InputPeerChannel):
                if peer.access_hash != self.access_hash(peer_id):
                    raise Fault(400, "CHANNEL_INVALID")
                if not isinstance(chat, types.Channel):
                    raise Fault(400, "CHANNEL_PRIVATE")
                if posting and chat.broadcast and not (chat.admin_rights and chat.admin_rights.post_messages):
                    raise Fault(403, "CHAT_ADMIN_REQUIRED")
                return types.PeerChannel(peer_id)
            if not isinstance(chat, types.Chat):
                raise Fault(400, "PEER_ID_INVALID")
            return types.PeerChat(peer_id)
        raise Fault(400, "PEER_ID_INVALID")

    def _SendMessageRequest(self, request):
        """messages.sendMessage: a text post, with the same right to post and random_id dedup as media; an empty
        text is MESSAGE_EMPTY, one over message_length_max MESSAGE_TOO_LONG (core.telegram.org/method/messages.sendMessage)."""
        peer = self._check_peer(request.peer, posting=True)
        if not request.message.strip():
            raise Fault(400, "MESSAGE_EMPTY")
        if len(request.message) > MESSAGE_LENGTH_MAX:
            raise Fault(400, "MESSAGE_TOO_LONG")
        message = self._post(request.random_id, None, request.message, request, peer)
        return self._updates([(request.random_id, message)])

    def texts(self) -> list[types.Message]:
        """The text messages posted (notifications), oldest first."""
        return [p.message for p in self.posted if p.message.media is None]

    def _SendMediaRequest(self, request):
        peer = self._check_peer(request.peer, posting=True)
        message = self._post(request.random_id, self._server_media(request.media), request.message, request.media,
                             peer)
        return self._updates([(request.random_id, message)])

    def _SendMultiMediaRequest(self, request):
        peer = self._check_peer(request.peer, posting=True)
        items = request.multi_media
        if not 2 <= len(items) <= 10:
            raise Fault(400, "MULTI_MEDIA_TOO_LONG" if len(items) > 10 else "MEDIA_INVALID")
        media = []
        for item in items:
            if not isinstance(item.media, types.InputMediaDocument | types.InputMediaPhoto):
                raise Fault(400, "MEDIA_INVALID")
            media.append((item, *self.uploaded_media[item.media.id.id]))
        if len({bool(getattr(m, "force_file", False)) for _, m, _ in media}) > 1:
            raise Fault(400, "MEDIA_GROUPED_INVALID")
        pairs = []
        for item, origin, server_media in media:
            pairs.append((item.random_id, self._post(item.random_id, server_media, item.message, origin, peer)))
        return self._updates(pairs)

    def _GetAppConfigRequest(self, request):
        limits = [types.JsonObjectValue("upload_max_fileparts_default", types.JsonNumber(self.max_parts)),
                  types.JsonObjectValue("upload_max_fileparts_premium", types.JsonNumber(2 * self.max_parts))]
        return types.help.AppConfig(1, types.JsonObject(limits))

    def _GetStateRequest(self, request):
        return types.updates.State(self.pts, 0, datetime.datetime.now(datetime.UTC), 0, 0)

    def _GetUsersRequest(self, request):
        users = []
        for wanted in request.id:
            if isinstance(wanted, types.InputUserSelf):
                users.append(self.me())
        return users

    def _GetConfigRequest(self, request):
        now = datetime.datetime.now(datetime.UTC)
        numbers = dict.fromkeys(
            ("chat_size_max", "megagroup_size_max", "forwarded_count_max", "online_update_period_ms",
             "offline_blur_timeout_ms", "offline_idle_timeout_ms", "online_cloud_timeout_ms", "notify_cloud_delay_ms",
             "notify_default_delay_ms", "push_chat_period_ms", "push_chat_limit", "edit_time_limit",
             "revoke_time_limit", "revoke_pm_time_limit", "rating_e_decay", "stickers_recent_limit",
             "channels_read_media_period", "call_receive_timeout_ms", "call_ring_timeout_ms",
             "call_connect_timeout_ms", "call_packet_timeout_ms"), 1000)
        options = [types.DcOption(number, address, port) for number, (address, port) in self.data_centres.items()]
        return types.Config(date=now, expires=now + datetime.timedelta(hours=1), test_mode=False, this_dc=self.home_dc,
                            dc_options=options, dc_txt_domain_name="", me_url_prefix="", caption_length_max=1024,
                            message_length_max=4096, webfile_dc_id=2, **numbers)

    def _GetDifferenceRequest(self, request):
        return types.updates.DifferenceEmpty(datetime.datetime.now(datetime.UTC), 0)

    def _SendCodeRequest(self, request):
        return types.auth.SentCode(types.auth.SentCodeTypeApp(5), phone_code_hash="fake-hash")

    def _SignInRequest(self, request):
        if self.password:
            raise Fault(401, "SESSION_PASSWORD_NEEDED")
        return self._log_in()

    def _ImportBotAuthorizationRequest(self, request):
        self.bot = True
        return self._log_in()

    def _GetPasswordRequest(self, request):
        algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(b"s1", b"s2", 3, GOOD_PRIME)
        return types.account.Password(algo, types.SecurePasswordKdfAlgoUnknown(), b"r", has_password=True,
                                      current_algo=algo, srp_B=SRP_B, srp_id=1)

    def _CheckPasswordRequest(self, request):
        return self._log_in()

    def _log_in(self):
        self.authorized = True
        return types.auth.Authorization(self.me())

    def _ResolveUsernameRequest(self, request):
        self.resolves += 1
        if self.resolves > self.resolve_limit:
            raise Fault(420, "FLOOD_WAIT_600")
        for chat in self.chats.values():
            if getattr(chat, "username", None) and chat.username.lower() == request.username.lower():
                return types.contacts.ResolvedPeer(types.PeerChannel(chat.id), [chat], [])
        raise Fault(400, "USERNAME_NOT_OCCUPIED")

    def _GetChannelsRequest(self, request):
        channels = []
        for wanted in request.id:
            if wanted.access_hash != self.access_hash(wanted.channel_id) and not (self.bot and not wanted.access_hash):
                raise Fault(400, "CHANNEL_INVALID")
            if wanted.channel_id not in self.chats:
                raise Fault(400, "CHANNEL_PRIVATE")
            channels.append(self.chats[wanted.channel_id])
        return types.messages.Chats(channels)

    def _GetChatsRequest(self, request):
        return types.messages.Chats([self.chats[i] for i in request.id if isinstance(self.chats.get(i), types.Chat)])

    def _GetDialogsRequest(self, request):
        dialogs = [types.Dialog(types.PeerChannel(c.id) if isinstance(c, types.Channel) else types.PeerChat(c.id),
                                0, 0, 0, 0, 0, 0, 0, types.PeerNotifySettings()) for c in self.chats.values()]
        return types.messages.Dialogs(dialogs, [], list(self.chats.values()), [])

    def _GetHistoryRequest(self, request):
        newest_first = [p.message for p in reversed(self.posted)][: request.limit]
        return types.messages.Messages(newest_first, [], [], [])


PART_REQUESTS = (functions.upload.SaveFilePartRequest, functions.upload.SaveBigFilePartRequest)
LOGIN_REQUESTS = (functions.auth.SignInRequest, functions.auth.ImportBotAuthorizationRequest,
                  functions.auth.CheckPasswordRequest)
OPEN_REQUESTS = (functions.auth.SendCodeRequest, functions.help.GetConfigRequest, functions.account.GetPasswordRequest)
# RFC 3526's 2048-bit MODP prime, the one Telegram uses for SRP and Telethon checks (telethon/password.py)
GOOD_PRIME = bytes.fromhex(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DBFA336F6E0AC925"
    "139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F642477FE96BB2A941D5BCD1D4AC8CC"
    "49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754FD17ED950D"
    "5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850C"
    "E929851F0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B")

SRP_B = pow(3, 2**1000 + 12345, int.from_bytes(GOOD_PRIME, "big")).to_bytes(256, "big")  # a g^b as Telethon checks it


def file_names(media) -> list[str]:
    """The file names in a MessageMedia, an InputMedia, or a request carrying one."""
    media = getattr(media, "media", media)
    attributes = getattr(getattr(media, "document", media), "attributes", None) or []
    return [a.file_name for a in attributes if isinstance(a, types.DocumentAttributeFilename)]


def request_types(requests) -> list[str]:
    return [type(r).__name__ for r in requests]

