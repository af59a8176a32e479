"""The JSON Schemas of pendo blocks and of the results file."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """One of this package's schemas, by file name."""
    return dict(json.loads(resources.files(__name__).joinpath(name).read_text("utf-8")))
