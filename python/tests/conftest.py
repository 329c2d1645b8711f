"""Shared paths of the mgr tests: the data pack beside the checkout and the mgr-cli binary."""

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACK = pathlib.Path(os.environ.get("MGR_PACK", ROOT.parent / "shared"))
GOLDEN = PACK / "reference" / "golden"
BENSOUND = PACK / "audio" / "bensound"
GTZAN_MINI = PACK / "data" / "gtzan-mini"


def _cli():
    """mgr-cli: $MGR_CLI, else the debug build of $CARGO_TARGET_DIR (or target/), else PATH."""
    if os.environ.get("MGR_CLI"):
        return pathlib.Path(os.environ["MGR_CLI"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        exe = target / profile / "mgr-cli"
        if exe.exists():
            return exe
    found = shutil.which("mgr-cli")
    return pathlib.Path(found) if found else None


@pytest.fixture(scope="session")
def cli():
    """The mgr-cli binary; a test that needs it fails (it is not skipped) when it is missing."""
    exe = _cli()
    if exe is None or not exe.exists():
        pytest.fail("mgr-cli not found: build it (cargo build -p mgr-cli) or set MGR_CLI")
    return exe


@pytest.fixture(scope="session", autouse=True)
def pack():
    """The data pack must be there: every reference of these tests is in it."""
    if not (PACK / "reference").is_dir():
        pytest.fail(f"the data pack is missing at {PACK} (set MGR_PACK)")
    return PACK
