"""Shared fixtures: the repository root and the Rust `cohort` example to compare against."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _target_dir() -> Path:
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else ROOT / "target"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def cohort_example() -> Path:
    """The Rust `cohort` example's binary: the one `cargo test --profile quick` (which builds
    the examples) or `cargo build --release --example cohort` left in the target folder, else
    built here with `cargo build --profile quick --example cohort`."""
    target = _target_dir()
    for profile in ("quick", "release"):
        exe = target / profile / "examples" / "cohort"
        if exe.is_file():
            return exe
    subprocess.run(
        ["cargo", "build", "--profile", "quick", "--example", "cohort"], cwd=ROOT, check=True
    )
    exe = target / "quick" / "examples" / "cohort"
    assert exe.is_file(), f"cargo built no {exe}"
    return exe
