"""The limits orgc checks, read from orgc/data/limits.json.

AWS's quotas (each with the date it was last checked and where it was read) and orgc's own
bounds on what it reads (a file's size, YAML alias expansion, nesting, an account matrix, Jinja
rendering), whose source is "orgc's own bound". A value is changed in the data file only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Limit:
    value: int
    source: str
    as_of: str


@cache
def limits() -> dict[str, Limit]:
    """Every limit by name (`SERVICE_CONTROL_POLICY.documentSize`, `orgc.yaml.depth`)."""
    text = (resources.files("orgc") / "data" / "limits.json").read_text(encoding="utf-8")
    raw = json.loads(text)["limits"]
    return {name: Limit(v["value"], v["source"], v["asOf"]) for name, v in raw.items()}


def limit(name: str) -> int:
    """The value of one limit; a name the data file lacks is a bug in orgc."""
    return limits()[name].value
