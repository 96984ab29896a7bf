"""What the uploader does about each error on the way to Telegram: one table, decided by the error's type.

The rows follow ../shared/TELEGRAM.md ("Errors an uploader meets"); the first row whose types match decides.
Anything no row names backs off like a passing failure and, after `uploader.max_retries` attempts, sends its
file to quarantine with the error's name: an error Telegram adds later neither stops the daemon nor is retried
for ever.

| reaction | errors |
| --- | --- |
| WAIT: sleep as long as Telegram asks, repeat | FLOOD_WAIT, FLOOD_PREMIUM_WAIT, SLOWMODE_WAIT |
| MIGRATE: repeat on the data centre Telethon switched to | PHONE_MIGRATE, USER_MIGRATE, NETWORK_MIGRATE |
| RESEND_PART: save the lost part again, repeat | FILE_PART_X_MISSING |
| AS_DOCUMENT: send the picture again as a document | PHOTO_INVALID_DIMENSIONS, PHOTO_SAVE_FILE_INVALID, PHOTO_EXT_INVALID |
| STOP (login): stop the uploader, exit 4 | AUTH_KEY_UNREGISTERED, SESSION_REVOKED, USER_DEACTIVATED, ACCESS_TOKEN_INVALID, … |
| STOP (chat): stop the uploader, exit 4 | CHAT_WRITE_FORBIDDEN, CHANNEL_PRIVATE, USER_BANNED_IN_CHANNEL, PEER_ID_INVALID, … |
| QUARANTINE: this file can never go as it is | MEDIA_INVALID, MEDIA_EMPTY, FILE_PARTS_INVALID, malformed parts, … |
| RETRY: network or server trouble, retried for ever | connection loss, timeouts, 5xx, RPC_CALL_FAIL, RANDOM_ID_DUPLICATE |
| BACK_OFF: anything else | backs off, quarantined after max_retries |

MIGRATE, RESEND_PART and AS_DOCUMENT are done by the sender where it can (the part and the picture are at hand
there); where it cannot, `failure` makes them a retry (MIGRATE) or a refusal of the file.
"""

import enum
from dataclasses import dataclass
from pathlib import Path

from telethon import errors

from tgvid.errors import AccountError, SendFailed, TgvidError


class Reaction(enum.StrEnum):
    WAIT = "wait it out"
    MIGRATE = "repeat on the other data centre"
    RESEND_PART = "save the part again"
    AS_DOCUMENT = "send as a document"
    STOP = "stop the uploader"
    QUARANTINE = "quarantine the file"
    RETRY = "retry with backoff"
    BACK_OFF = "back off, then quarantine"


@dataclass(frozen=True)
class Row:
    types: tuple[type[BaseException], ...]
    reaction: Reaction
    advice: str = ""  # for STOP: what the person has to do


LOGIN_GONE = ("the Telegram login is gone: run `tgvid login` again (for a bot, check telegram.bot_token), and never "
              "run two processes on one session. Every file is kept in outbox/")
CANNOT_POST = ("cannot post to {chat}: check telegram.chat and the account's rights there (`tgvid check` tells); "
               "a channel needs the right to post. Every file is kept in outbox/")

TABLE = (
    Row((errors.FloodWaitError, errors.FloodPremiumWaitError, errors.SlowModeWaitError), Reaction.WAIT),
    Row((errors.PhoneMigrateError, errors.UserMigrateError, errors.NetworkMigrateError), Reaction.MIGRATE),
    Row((errors.FilePartMissingError, errors.FilePart0MissingError), Reaction.RESEND_PART),
    Row((errors.PhotoInvalidDimensionsError, errors.PhotoSaveFileInvalidError, errors.PhotoExtInvalidError),
        Reaction.AS_DOCUMENT),
    Row((errors.AuthKeyUnregisteredError, errors.SessionRevokedError, errors.SessionExpiredError,
         errors.UserDeactivatedError, errors.UserDeactivatedBanError, errors.AuthKeyDuplicatedError,
         errors.AccessTokenInvalidError, errors.AccessTokenExpiredError, errors.AuthKeyNotFound,
         errors.UnauthorizedError), Reaction.STOP, LOGIN_GONE),
    Row((errors.ChatWriteForbiddenError, errors.ChatSendMediaForbiddenError, errors.ChatSendVideosForbiddenError,
         errors.ChannelPrivateError, errors.UserBannedInChannelError, errors.ChatAdminRequiredError,
         errors.PeerIdInvalidError, errors.ChannelInvalidError, errors.ChatIdInvalidError, errors.ChatRestrictedError,
         errors.UsernameNotOccupiedError, errors.UsernameInvalidError, errors.ForbiddenError), Reaction.STOP,
        CANNOT_POST),
    Row((errors.MediaInvalidError, errors.MediaEmptyError, errors.FilePartsInvalidError, errors.FilePartTooBigError,
         errors.FilePartSizeInvalidError, errors.FilePartSizeChangedError, errors.FilePartEmptyError,
         errors.Md5ChecksumInvalidError, errors.VideoContentTypeInvalidError, errors.VideoFileInvalidError,
         errors.MediaCaptionTooLongError), Reaction.QUARANTINE),
    # Passing trouble: connection and timeout (OSError), a cut or garbled stream (EOFError, Telethon's buffer,
    # checksum and security errors: a proxy or captive portal answering in Telegram's place), server errors.
    # RANDOM_ID_DUPLICATE (a ServerError): the earlier send with this id is still in flight.
    Row((OSError, EOFError, errors.InvalidBufferError, errors.InvalidChecksumError, errors.SecurityError,
         errors.ServerError, errors.RpcCallFailError, errors.TimedOutError), Reaction.RETRY),
)


def row_for(error: BaseException) -> Row:
    for row in TABLE:
        if isinstance(error, row.types):
            return row
    return Row((), Reaction.BACK_OFF)


def reaction_to(error: BaseException) -> Reaction:
    return row_for(error).reaction


def failure(error: BaseException, path: Path | str, chat: str) -> TgvidError:
    """The error the daemon acts on for `error`, met while sending `path` to `chat`."""
    row = row_for(error)
    name = f"{error.__class__.__name__}: {error}"
    if row.reaction is Reaction.STOP:
        return AccountError(path, f"{row.advice.format(chat=chat)} ({name})")
    if row.reaction in (Reaction.RETRY, Reaction.WAIT, Reaction.MIGRATE):
        return SendFailed(path, f"network or server trouble: {name}", retry=True, network=True)
    if row.reaction is Reaction.BACK_OFF:
        return SendFailed(path, name, retry=True)
    return SendFailed(path, name, retry=False)
