"""Pruning `originals/` and `sent/` by age (tgvid.pruning): what is older than the setting goes, the rest stays."""

import os
import time

from hypothesis import given
from hypothesis import strategies as st

from tgvid import pruning
from uploader.ledger import Ledger, path_in

DAY = pruning.DAY_SECONDS


@given(st.dictionaries(st.text(min_size=1), st.floats(0, 1e9)), st.floats(0, 1e9))
def test_zero_days_keeps_everything_forever(placed_at, now):
    assert pruning.expired(placed_at, 0, now) == []


def test_only_files_kept_longer_than_the_setting_expire():
    now = 100 * DAY
    placed_at = {"old.mkv": now - 3 * DAY, "edge.mkv": now - 2 * DAY, "new.mkv": now - DAY}
    assert pruning.expired(placed_at, 2, now) == ["old.mkv"]


def test_age_counts_from_the_move_into_the_folder_not_from_the_file_date(tmp_path):
    originals = tmp_path / "originals"
    (originals / "trip").mkdir(parents=True)
    (originals / "trip" / "film.mkv").write_bytes(b"x")
    os.utime(originals / "trip" / "film.mkv", (0, 0))  # shot in 1970, moved here just now
    pruner = pruning.Pruner(originals, keep_days=2)
    assert pruner.prune(time.time() + DAY) == []
    assert pruner.prune(time.time() + 3 * DAY) == [originals / "trip" / "film.mkv"]
    assert not (originals / "trip").exists(), "a folder left empty goes too"
    assert originals.is_dir()


def test_the_ledger_stays_in_a_pruned_sent_folder(tmp_path):
    (tmp_path / "sent").mkdir()
    Ledger(path_in(tmp_path)).save()
    (tmp_path / "sent" / "a.mp4").write_bytes(b"sent")
    pruner = pruning.Pruner(tmp_path / "sent", keep_days=1, kept_name=path_in(tmp_path).name)
    assert pruner.prune(time.time() + 2 * DAY) == [tmp_path / "sent" / "a.mp4"]
    assert path_in(tmp_path).exists()
