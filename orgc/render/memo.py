"""The render memo: renders kept by what they read of their target.

The evaluator records what a render read of its target (`Read`: an attribute of the target
account, its region, whether a reference lands in it). A render is kept under its placement (the
resources a target holds; shared by the targets bound alike) with the values those reads gave;
another target of the same placement whose reads give the same values takes it instead of
rendering again. A render that reported a mistake, or read something no key can stand for (an
export, resources of other accounts through CurrentAccount), is never kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from orgc.expressions import Read
from orgc.render.model import _Target

Kept = TypeVar("Kept")
# What one target gives for one read: any hashable value.
ReadValue = Callable[[_Target, Read], object]
UNREADABLE = object()  # a read that fails for a target: equal to no recorded value


class Memo(Generic[Kept]):
    """Renders by placement (any hashable key), by what they read and the values read."""

    def __init__(self, read_value: ReadValue) -> None:
        self.read_value = read_value
        self._entries: dict[object, list[tuple[tuple[Read, ...], dict[tuple[object, ...], Kept]]]]
        self._entries = {}

    def find(self, key: object, target: _Target) -> tuple[Kept | None, Lookup]:
        """The render kept for `target` under `key`, or None; the lookup remembers the values
        it computed, for `keep`."""
        lookup = Lookup(key, target)
        for signature, kept in self._entries.get(key, ()):
            values = lookup.values[signature] = self.values(target, signature)
            found = kept.get(values)
            if found is not None:
                lookup.signature = signature
                return found, lookup
        return None, lookup

    def keep(self, lookup: Lookup, reads: list[Read], render: Kept) -> None:
        """Keep `render`, which made `reads` (in order, repeats allowed) for `lookup`'s target."""
        signature = tuple(dict.fromkeys(reads))
        values = lookup.values.get(signature)
        if values is None:
            values = self.values(lookup.target, signature)
        entries = self._entries.setdefault(lookup.key, [])
        for known, kept in entries:
            if known == signature:
                kept[values] = render
                return
        entries.append((signature, {values: render}))

    def values(self, target: _Target, signature: tuple[Read, ...]) -> tuple[object, ...]:
        read_value = self.read_value
        return tuple([read_value(target, read) for read in signature])


class Lookup:
    """One `Memo.find`: its key and target, the values computed, the signature that matched."""

    def __init__(self, key: object, target: _Target) -> None:
        self.key = key
        self.target = target
        self.values: dict[tuple[Read, ...], tuple[object, ...]] = {}
        self.signature: tuple[Read, ...] = ()
