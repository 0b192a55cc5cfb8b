"""The sha256 of modules' source files: which code made data that is generated, not stored.

Generated data (the demo fusion model's synthetic families, a training stream's photos) is
identified by what generates it; the code that does is part of that, beside the settings.
Torch-free, so serving and training share it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


def code_digests(modules: tuple[str, ...]) -> dict[str, str]:
    """sha256 of each module's source file (its bytes), by module name."""
    digests = {}
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"cannot find the source of {name}")
        digests[name] = hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()
    return digests
