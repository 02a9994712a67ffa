"""Expected diagnostics written inline in test files, and the actual ones in the same shape.

A case file says what it expects on the line it expects it:

    AccountId: 012345678901  # error[E305]: account id 012345678901 was read as ...

A line may carry several (`# error[E202]: a  # error[E305]: b`). Both sides become sets of
(line, code, message) and are compared exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from orgc.diagnostics import Diagnostic, Diagnostics
from orgc.load import LoadOptions, load_file
from orgc.model import Organization, build_organization
from orgc.validate import validate_organization

Expectation = tuple[int, str, str]

_MARKER = re.compile(r"#\s*(?:error|warning)\[([EW]\d{3})\]:\s*")


def expected_diagnostics(path: Path) -> set[Expectation]:
    """The (line, code, message) triples that `path` expects, lines 1-based."""
    return set(expected_in_order(path))


def expected_in_order(path: Path) -> list[Expectation]:
    """The same triples in the order they are written: for a stage that reports in file order
    and whose order is part of what it promises."""
    expected: list[Expectation] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        markers = list(_MARKER.finditer(line))
        for index, marker in enumerate(markers):
            end = markers[index + 1].start() if index + 1 < len(markers) else len(line)
            expected.append((number, marker.group(1), line[marker.end() : end].strip()))
    return expected


def actual_diagnostics(diagnostics: Iterable[Diagnostic], file_display: str) -> set[Expectation]:
    """The diagnostics about `file_display` in the same shape; one without a position is line 0.

    Diagnostics about other files are left out: a case file states what it expects of itself.
    """
    actual: set[Expectation] = set()
    for diagnostic in diagnostics:
        if diagnostic.span is None:
            actual.add((0, diagnostic.code, diagnostic.message))
        elif diagnostic.span.file == file_display:
            actual.add((diagnostic.span.line, diagnostic.code, diagnostic.message))
    return actual


@cache
def case_organization(directory: Path) -> Organization:
    """The organization in `directory`/organization.yml that a folder of cases deploys to
    (built once per folder; the model is frozen)."""
    diagnostics = Diagnostics()
    file = load_file(directory / "organization.yml", LoadOptions(root=directory), diagnostics)
    assert file is not None
    validate_organization(file, diagnostics)
    built = build_organization(file, diagnostics)
    assert built is not None, list(diagnostics)
    assert not diagnostics.has_errors, list(diagnostics)
    return built
