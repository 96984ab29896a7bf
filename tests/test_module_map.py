"""README's module map names every module of the three packages, and nothing that is not one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tgvid", "transcoder", "uploader")


def map_rows() -> dict[str, set[str]]:
    """package → the module names its row of README's "Where things live" table shows in backticks."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\| `(\w+)/` \| (.*) \|$", line)
        if match and match.group(1) in PACKAGES:
            rows[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return rows


def test_the_module_map_matches_the_code():
    rows = map_rows()
    assert set(rows) == set(PACKAGES)
    for package in PACKAGES:
        modules = {path.stem for path in (ROOT / package).glob("*.py") if path.stem != "__init__"}
        assert modules - rows[package] == set(), f"{package}/ modules missing from README's module map"
        assert rows[package] - modules == set(), f"README's module map names what {package}/ does not hold"
