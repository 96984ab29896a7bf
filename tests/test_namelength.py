"""Names tgvid places leave room for the names it derives from them, cut at a character, extension kept."""

import itertools
import os
from pathlib import Path

from tgvid import durable, sidecar
from tgvid.freename import numbered
from tgvid.namelength import NAME_MAX_BYTES, PLACED_MAX_BYTES, fitting


def test_a_short_name_is_kept_and_a_long_one_is_cut_at_a_character_keeping_its_extension():
    assert fitting("clip", ".mp4") == "clip.mp4"
    cut = fitting("é" * 200, ".mp4")
    assert cut.endswith("….mp4") and cut.startswith("é" * 100)
    assert len(os.fsencode(cut)) <= PLACED_MAX_BYTES
    assert cut.encode()  # no half character


def test_numbered_long_names_are_distinct_and_leave_room_for_a_sidecar_temp_file(tmp_path):
    names = [path.name for path in itertools.islice(numbered(tmp_path / ("x" * 250 + ".jpg")), 12)]
    assert len(set(names)) == 12
    assert names[1].endswith("… (2).jpg")
    for name in names:
        temp = durable.temp_path_for(sidecar.path_for(tmp_path / name))
        assert len(os.fsencode(temp.name)) <= NAME_MAX_BYTES


def test_a_temp_file_of_a_long_name_is_written_and_cleaned_up(tmp_path):
    target = tmp_path / ("y" * 250)
    durable.atomic_write(target, b"data")
    assert target.read_bytes() == b"data"
    Path(durable.temp_path_for(target)).write_bytes(b"left by a kill")
    durable.remove_temps(target)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
