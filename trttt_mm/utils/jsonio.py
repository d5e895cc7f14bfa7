"""Reading JSON files that may be missing or damaged."""
import json
from typing import Any


def read_json(path: str) -> Any:
    """The parsed content of ``path``, or None when it does not exist or is
    not valid JSON (callers treat both as "nothing recorded there")."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
