"""What a refused retrain says to move out of the way, read from its message."""

from __future__ import annotations

import re

# "first move FOLDER[, FOLDER] out of OUT:" as a refusal says of models in renamed folders.
MOVE = re.compile(r"first move ([\w, ]+) out of (\S+):")
