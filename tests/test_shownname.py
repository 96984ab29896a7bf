"""Long names on a status line: cut in the middle to a readable width, the start and the extension kept."""

from tgvid.shownname import MAX_COLUMNS, columns, shortened


def test_a_short_name_is_shown_whole():
    assert shortened("trip/beach.mp4") == "trip/beach.mp4"


def test_a_240_character_name_keeps_its_start_and_its_extension_around_an_ellipsis():
    name = ("a holiday at the sea with the whole family and the dog " * 5)[:236] + ".mkv"
    shown = shortened(name)
    assert columns(shown) == MAX_COLUMNS
    start, end = shown.split("…")
    assert name.startswith(start) and name.endswith(end) and end.endswith(".mkv")
    assert len(start) > len(end) > len(".mkv"), "more of the start, which tells names apart, and some of the end"


def test_wide_characters_count_two_columns_and_no_mark_is_left_without_its_letter():
    wide = "海辺の休日" * 30 + ".mp4"
    assert columns(shortened(wide)) <= MAX_COLUMNS and shortened(wide).endswith(".mp4")
    accented = "e\u0301" * 100 + ".mp4"  # é as a letter and a combining accent: one column each
    shown = shortened(accented)
    assert columns(shown) <= MAX_COLUMNS and shown.split("…")[1].startswith("e\u0301")


def test_an_extension_longer_than_half_the_width_is_cut_like_the_rest_of_the_name():
    name = "clip." + "x" * 200
    shown = shortened(name)
    assert columns(shown) == MAX_COLUMNS and shown.startswith("clip.x")
