"""Hypothesis strategies for the uploader's pure decisions."""

from hypothesis import strategies as st

from uploader.album import Candidate

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
