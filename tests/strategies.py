"""Hypothesis strategies for the pure decisions of both daemons: segment plans, the job queue, album grouping."""

from hypothesis import strategies as st

from transcoder.queue import Waiting
from transcoder.verdict import Kind
from uploader.album import Candidate

KINDS = [Kind.IMAGE, Kind.PASS, Kind.REMUX, Kind.AUDIO, Kind.TRANSCODE]
kinds_of_job = st.sampled_from(KINDS)
waiting_items = st.builds(Waiting, relpath=st.text(min_size=1, max_size=5), kind=kinds_of_job,
                          arrived_at=st.floats(0, 100), not_before=st.floats(0, 100))


@st.composite
def streams(draw):
    """(sorted keyframes, first pts, end pts, target seconds) of a video stream, in milliseconds."""
    first = draw(st.integers(-5000, 5000))
    length = draw(st.integers(1, 600_000))
    keyframes = draw(st.lists(st.integers(first, first + length - 1), max_size=200))
    target = draw(st.sampled_from([0.5, 2.0, 10.0]))
    return tuple(sorted({first, *keyframes})), first, first + length, target


folders = st.sampled_from(["", "trip", "trip/day2", "party"])
kinds = st.sampled_from(["video", "image", "document"])


@st.composite
def candidate_lists(draw):
    """Outbox candidates with unique keys, some with an album already recorded."""
    size = draw(st.integers(0, 40))
    candidates = []
    for index in range(size):
        folder = draw(folders)
        relpath = f"{folder}/f{index:02d}" if folder else f"f{index:02d}"
        candidates.append(Candidate(f"k{index}", relpath, folder, draw(kinds), draw(st.floats(0, 100)), ""))
    recorded = draw(st.lists(st.sampled_from(candidates), unique=True, max_size=10)) if candidates else []
    albums = {c.key: f"album-{c.folder}-{c.kind == 'document'}" for c in recorded}
    return [Candidate(c.key, c.relpath, c.folder, c.kind, c.first_seen, albums.get(c.key, "")) for c in candidates]
