"""Observation: the reads of AWS a plan compares the files with.

Each function asks the provider for one kind of thing and returns the provider's own types
(orgc.observed); none decides anything. Reads that do not depend on each other run on a small
pool of threads, so a plan over many accounts and regions waits for the slowest read, not for
their sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from orgc.observed import LiveStackSet
from orgc.provider import Provider

# Threads of one observation: enough to hide the latency of AWS's API, few enough to stay clear
# of its throttling.
_READ_WORKERS = 8


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_READ_WORKERS, thread_name_prefix="orgc-observe")


def observe_stack_sets(provider: Provider, names: Iterable[str]) -> dict[str, LiveStackSet | None]:
    """Each named StackSet as AWS holds it now (None: there is none): one DescribeStackSet and
    one ListStackInstances per StackSet, nothing per account."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    with _pool() as pool:
        return dict(zip(wanted, pool.map(provider.describe_stack_set, wanted), strict=True))
