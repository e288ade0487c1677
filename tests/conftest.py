"""Fixtures shared by the whole suite.

Real clips and golden vectors live outside the repository, in a ``shared``
folder beside the checkout. Tests that need them skip with the reason when
that folder is absent.
"""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        pytest.skip(f"{what} not found at {path}; these tests need the shared folder beside the checkout")
    return path


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder of the 22 real DCASE 2020 and 2023 test clips."""
    return _require_dir(SHARED_DIR / "data" / "real", "real DCASE clips")


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Folder of golden vectors from the reference BEATs, EAT and CED code."""
    return _require_dir(SHARED_DIR / "golden", "golden reference vectors")
