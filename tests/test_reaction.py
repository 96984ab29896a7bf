"""The reaction table both daemons follow after a failed attempt."""

from hypothesis import given
from hypothesis import strategies as st

from tgvid.errors import ConfigError, InternalError, LedgerError, NoSpace, Rejected, SendFailed, TranscodeFailed, VerifyFailed
from tgvid.reaction import Quarantine, Retry, RetryAtStart, RetryPolicy, Stop, WaitForSpace, reaction

POLICY = RetryPolicy(max_retries=3, base_seconds=5.0, cap_seconds=600.0)
failures = st.integers(1, 50)


@given(failures)
def test_what_can_never_work_is_quarantined_at_once(count):
    assert reaction(Rejected("a.mkv", "no video stream"), count, POLICY) == Quarantine()
    assert reaction(SendFailed("a.mp4", "refused", retry=False), count, POLICY) == Quarantine()


@given(failures)
def test_a_full_disk_waits_and_a_broken_setup_stops_the_daemon(count):
    assert isinstance(reaction(NoSpace("a.mkv", "disk full"), count, POLICY), WaitForSpace)
    assert reaction(ConfigError("telegram.chat", "no such chat"), count, POLICY) == Stop()
    assert reaction(LedgerError("ledger.msgpack", "torn"), count, POLICY) == Stop()


@given(failures)
def test_network_trouble_is_retried_for_as_long_as_it_lasts(count):
    assert isinstance(reaction(SendFailed("a.mp4", "timeout", retry=True, network=True), count, POLICY), Retry)


@given(st.sampled_from([TranscodeFailed("a", "x"), VerifyFailed("a", "x"), SendFailed("a", "x", retry=True)]), failures)
def test_passing_failures_back_off_and_then_go_to_quarantine(error, count):
    action = reaction(error, count, POLICY)
    if count >= POLICY.max_retries:
        assert action == Quarantine()
    else:
        assert action == Retry(min(600.0, 5.0 * 2 ** (count - 1)))


@given(failures)
def test_a_bug_in_tgvid_waits_for_the_next_start_however_often_it_failed(count):
    assert reaction(InternalError("a.mov", "KeyError: 'x'", version="1.0"), count, POLICY) == RetryAtStart()
