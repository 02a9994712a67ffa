"""AWS region names, from `orgc/data/regions.json` (dated, with its source).

A region name in a binding decides where stacks live: a typo there does not fail, it moves every
stack of the binding — the plan deletes them where they are and creates them in a region that
does not exist. So a name that is not a region is an error wherever a file names one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from orgc.diagnostics import did_you_mean


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    name: str
    description: str
    partition: str
    opt_in: bool  # disabled in an account until it is enabled there


@functools.cache
def regions() -> dict[str, Region]:
    text = resources.files("orgc").joinpath("data/regions.json").read_text("utf-8")
    data = json.loads(text)
    return {
        name: Region(
            name=name,
            description=entry["name"],
            partition=entry["partition"],
            opt_in=entry["optIn"],
        )
        for name, entry in data["regions"].items()
    }


@functools.cache
def as_of() -> str:
    text = resources.files("orgc").joinpath("data/regions.json").read_text("utf-8")
    return str(json.loads(text)["asOf"])


def unknown_region(name: str) -> str | None:
    """Why `name` is not a region (one sentence with a did-you-mean), or None if it is one."""
    known = regions()
    if name in known:
        return None
    return (
        f"{name!r} is not an AWS region (orgc/data/regions.json, as of {as_of()})"
        f"{did_you_mean(name, known)}"
    )
