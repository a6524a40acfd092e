"""Where the browser tests save screenshots for a person to review (ignored by git)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts"
SAVED: list[Path] = []  # listed at the end of the run (tests/export/conftest.py)


def screenshot_path(name: str) -> Path:
    path = ARTIFACTS / "statuspage" / f"{name}.png"
    SAVED.append(path)
    return path
