"""The error family: messages name the file and the reason, errors cross a process boundary whole."""

import pickle

import pytest

from tgvid.errors import CheckpointError, LedgerError, Rejected, SendFailed, SidecarError


@pytest.mark.parametrize("error", [
    Rejected("/in/a.mkv", "no video stream"),
    SendFailed("/out/a.mp4", "FILE_PARTS_INVALID", retry=False, network=False),
    CheckpointError.NewerVersion("/work/1/checkpoint.msgpack", found=7, supported=1),
], ids=lambda error: type(error).__qualname__)
def test_an_error_survives_pickling_with_its_type_its_fields_and_its_message(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error) == error.message
    assert again.fields == error.fields and again.path == error.path and again.reason == error.reason


@pytest.mark.parametrize("outer", [CheckpointError, SidecarError, LedgerError])
def test_a_newer_format_is_caught_as_its_formats_error_and_names_the_version(outer):
    with pytest.raises(outer) as caught:
        raise outer.NewerVersion("/x", found=9, supported=2)
    assert "format version 9, this one reads up to 2" in str(caught.value)
