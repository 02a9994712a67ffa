"""A state writer that keeps the state in memory, for apply runs that need no state file."""

from __future__ import annotations

from orgc.state import State


class MemoryWriter:
    """What apply records, kept in `state` (a test may set it too); `writes` counts writes."""

    def __init__(self, state: State | None = None) -> None:
        self.state = state if state is not None else State()
        self.writes = 0

    def write(self, new: State) -> State:
        self.state = new
        self.writes += 1
        return new

    def check_held(self) -> None:
        """Nothing can take an in-memory state away from the run."""
