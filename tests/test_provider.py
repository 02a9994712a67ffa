"""The one `Provider` protocol and the AWS provider that implements it."""

from __future__ import annotations

import inspect

import pytest

from orgc.aws import AwsProvider
from orgc.provider import Provider

# Seams of the AWS provider for tests and benchmarks, not verbs anything in orgc calls.
_SEAMS = frozenset({"call_counts", "register_event_hook", "service_limits"})


def _as_provider(aws: AwsProvider) -> Provider:
    # mypy checks every verb's signature here: AwsProvider is a Provider.
    return aws


def _verbs(cls: type) -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_aws_provider_offers_exactly_the_protocols_verbs() -> None:
    assert _verbs(AwsProvider) - _SEAMS == _verbs(Provider)


@pytest.mark.parametrize("verb", sorted(_verbs(Provider)))
def test_each_verb_takes_the_protocols_parameters(verb: str) -> None:
    wanted = inspect.signature(getattr(Provider, verb)).parameters
    offered = inspect.signature(getattr(AwsProvider, verb)).parameters
    assert [(p.name, p.kind) for p in wanted.values()] == [
        (p.name, p.kind) for p in offered.values() if p.name in wanted
    ]
    # What the implementation takes besides the protocol's parameters it must not need.
    extra = [p for p in offered.values() if p.name not in wanted]
    assert all(p.default is not inspect.Parameter.empty for p in extra)
