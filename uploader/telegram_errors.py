"""What each error on the way to Telegram becomes: one table, by the error's type, from Telegram's error to ours.

The rows follow ../shared/TELEGRAM.md ("Errors an uploader meets"); the first row whose types match decides. A row
says what the sender does about the error itself, within the attempt (`Handling`), and, when that does not settle
it, which error of our family (tgvid.errors) it becomes (`Family`). What then happens to the file or the daemon is
tgvid.reaction's decision, the same for both daemons.

| Telegram's error | the sender first | becomes | so tgvid.reaction |
| --- | --- | --- | --- |
| FLOOD_WAIT, FLOOD_PREMIUM_WAIT, SLOWMODE_WAIT | waits as long as Telegram asks, repeats | PASSING | retries |
| PHONE_MIGRATE, USER_MIGRATE, NETWORK_MIGRATE | repeats on the data centre Telethon switched to | PASSING | retries |
| FILE_PART_X_MISSING | saves the lost part again, repeats | REFUSED | quarantines |
| PHOTO_INVALID_DIMENSIONS, PHOTO_SAVE_FILE_INVALID, PHOTO_EXT_INVALID | sends it as a document | REFUSED | quarantines |
| AUTH_KEY_UNREGISTERED, SESSION_REVOKED, USER_DEACTIVATED, ACCESS_TOKEN_INVALID, … | — | ACCOUNT | stops, exit 4 |
| CHAT_WRITE_FORBIDDEN, CHANNEL_PRIVATE, USER_BANNED_IN_CHANNEL, PEER_ID_INVALID, … | — | ACCOUNT | stops, exit 4 |
| MEDIA_INVALID, MEDIA_EMPTY, FILE_PARTS_INVALID, malformed parts, … | — | REFUSED | quarantines |
| connection loss, timeout, 5xx, RPC_CALL_FAIL, RANDOM_ID_DUPLICATE | repeats, backing off | PASSING | retries, never gives up |
| anything else | — | UNKNOWN | retries, quarantines after `uploader.max_retries` naming it |

An error Telegram adds later thus neither stops the daemon nor is retried for ever.
"""

import enum
from dataclasses import dataclass
from pathlib import Path

from telethon import errors

from tgvid.errors import AccountError, SendFailed, TgvidError


class Handling(enum.StrEnum):
    """What the sender does about an error itself, before it reaches the daemon."""

    WAIT = "wait it out, repeat"
    MIGRATE = "repeat on the other data centre"
    RESEND_PART = "save the part again, repeat"
    AS_DOCUMENT = "send as a document"
    REPEAT = "repeat a few times with backoff"
    NONE = "nothing"


class Family(enum.StrEnum):
    """The error of tgvid.errors a Telegram error becomes when the sender's handling does not settle it."""

    ACCOUNT = "AccountError: the login or the chat"
    REFUSED = "SendFailed(retry=False): this file can never go as it is"
    PASSING = "SendFailed(network=True): network or server trouble, never the file's fault"
    UNKNOWN = "SendFailed: maybe passing"


@dataclass(frozen=True)
class Row:
    types: tuple[type[BaseException], ...]
    handling: Handling
    family: Family
    advice: str = ""  # for ACCOUNT: what the person has to do


LOGIN_GONE = ("the Telegram login is gone: run `tgvid login` again (for a bot, check telegram.bot_token), and never "
              "run two processes on one session. Every file is kept in outbox/")
CANNOT_POST = ("cannot post to {chat}: check telegram.chat and the account's rights there (`tgvid check` tells); "
               "a channel needs the right to post. Every file is kept in outbox/")

TABLE = (
    Row((errors.FloodWaitError, errors.FloodPremiumWaitError, errors.SlowModeWaitError), Handling.WAIT,
        Family.PASSING),
    Row((errors.PhoneMigrateError, errors.UserMigrateError, errors.NetworkMigrateError), Handling.MIGRATE,
        Family.PASSING),
    Row((errors.FilePartMissingError, errors.FilePart0MissingError), Handling.RESEND_PART, Family.REFUSED),
    Row((errors.PhotoInvalidDimensionsError, errors.PhotoSaveFileInvalidError, errors.PhotoExtInvalidError),
        Handling.AS_DOCUMENT, Family.REFUSED),
    Row((errors.AuthKeyUnregisteredError, errors.SessionRevokedError, errors.SessionExpiredError,
         errors.UserDeactivatedError, errors.UserDeactivatedBanError, errors.AuthKeyDuplicatedError,
         errors.AccessTokenInvalidError, errors.AccessTokenExpiredError, errors.AuthKeyNotFound,
         errors.UnauthorizedError), Handling.NONE, Family.ACCOUNT, LOGIN_GONE),
    Row((errors.ChatWriteForbiddenError, errors.ChatSendMediaForbiddenError, errors.ChatSendVideosForbiddenError,
         errors.ChannelPrivateError, errors.UserBannedInChannelError, errors.ChatAdminRequiredError,
         errors.PeerIdInvalidError, errors.ChannelInvalidError, errors.ChatIdInvalidError, errors.ChatRestrictedError,
         errors.UsernameNotOccupiedError, errors.UsernameInvalidError, errors.ForbiddenError), Handling.NONE,
        Family.ACCOUNT, CANNOT_POST),
    Row((errors.MediaInvalidError, errors.MediaEmptyError, errors.FilePartsInvalidError, errors.FilePartTooBigError,
         errors.FilePartSizeInvalidError, errors.FilePartSizeChangedError, errors.FilePartEmptyError,
         errors.Md5ChecksumInvalidError, errors.VideoContentTypeInvalidError, errors.VideoFileInvalidError,
         errors.MediaCaptionTooLongError), Handling.NONE, Family.REFUSED),
    # Passing trouble: connection and timeout (OSError), a cut or garbled stream (EOFError, Telethon's buffer,
    # checksum and security errors: a proxy or captive portal answering in Telegram's place), server errors.
    # RANDOM_ID_DUPLICATE (a ServerError): the earlier send with this id is still in flight.
    Row((OSError, EOFError, errors.InvalidBufferError, errors.InvalidChecksumError, errors.SecurityError,
         errors.ServerError, errors.RpcCallFailError, errors.TimedOutError), Handling.REPEAT, Family.PASSING),
)
UNNAMED = Row((), Handling.NONE, Family.UNKNOWN)


def row_for(error: BaseException) -> Row:
    for row in TABLE:
        if isinstance(error, row.types):
            return row
    return UNNAMED


def handled_by(handling: Handling) -> tuple[type[BaseException], ...]:
    """The error types whose row has this handling (for a caller that does it itself)."""
    return tuple(kind for row in TABLE if row.handling is handling for kind in row.types)


def failure(error: BaseException, path: Path | str, chat: str) -> TgvidError:
    """The error of our family for `error`, met while sending `path` to `chat`."""
    row = row_for(error)
    name = f"{error.__class__.__name__}: {error}"
    if row.family is Family.ACCOUNT:
        return AccountError(path, f"{row.advice.format(chat=chat)} ({name})")
    if row.family is Family.PASSING:
        return SendFailed(path, f"network or server trouble: {name}", retry=True, network=True)
    return SendFailed(path, name, retry=row.family is Family.UNKNOWN)
