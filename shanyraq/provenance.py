"""Which code made an artifact: the package version and, from a checkout, the git commit.

Torch-free, so every artifact (vision models, fusion models) records its code the same way.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from shanyraq import __version__


def code_version(folder: Path | None = None) -> str:
    """Package version plus the git commit when run from a checkout ("0.1.0+abc123def456").

    ".dirty.<8 hex>" follows the commit when tracked files differ from it: the artifact was
    then built by code no commit holds, and its version says so; the hex is the sha256 of the
    difference (`git diff HEAD`), so two different uncommitted trees never share a version and
    the same one always gives the same.
    """
    cwd = folder or Path(__file__).resolve().parent

    def git(*args: str) -> bytes:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD").decode()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        diff = git("diff", "HEAD", "--binary", "--no-color", "--no-ext-diff") if dirty else b""
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return __version__
    if not commit:
        return __version__
    suffix = f".dirty.{hashlib.sha256(diff).hexdigest()[:8]}" if dirty else ""
    return f"{__version__}+{commit}{suffix}"
