"""Which code made an artifact: the package version and, from a checkout, the git commit.

Torch-free, so every artifact (vision models, fusion models) records its code the same way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from shanyraq import __version__


def code_version(folder: Path | None = None) -> str:
    """Package version plus the git commit when run from a checkout ("0.1.0+abc123def456").

    ".dirty" follows the commit when tracked files differ from it: the artifact was then built
    by code no commit holds, and its version says so.
    """
    cwd = folder or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{commit}{'.dirty' if dirty else ''}" if commit else __version__
