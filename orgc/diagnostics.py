"""Diagnostics: one registry of codes, one collector, one way to print them.

Every stage reports problems as `Diagnostic`s with a stable code (a `CodeId`, explained in
`orgc/data/codes.json`) and a position (`Span`) found by the loader's locator. Stages collect;
they raise `StageError` only at their boundary, so a user sees every mistake in one run.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal, cast, get_args


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A place in a source file; `line` and `col` are 1-based."""

    file: str
    line: int
    col: int
    end_line: int = field(default=0, compare=False)
    end_col: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


# Stable ids: E1xx load, E2xx schema, E3xx model and task files, E4xx bind and render, E5xx graph,
# E6xx plan, E7xx apply; W is a warning. A code, once published, keeps its meaning and is never
# reused: W302 and E704 were registered but nothing ever emitted them, so they are retired;
# E330 (an unknown DependsOn) became the warning W390, as OrgFormation only warns.
#
# `CodeId` is the registry. Every function that takes a code takes a `CodeId`, so mypy refuses
# a code that is not listed here where it is written; `orgc/data/codes.json` holds what each one
# means, and tests/test_diagnostics.py proves the two list the same codes. A new code goes in
# both places, and needs a test case that emits it (the suite checks that too).
CodeId = Literal[
    # load (E1xx)
    "E100",
    "E101",
    "E102",
    "E103",
    "E104",
    "E105",
    "E106",
    "E107",
    "E108",
    "E109",
    "E110",
    "E111",
    "E112",
    "E113",
    "E114",
    "E115",
    "E116",
    "E117",
    "E118",
    # OrgFormation digests, orphaned objects, inputs of commands without AWS (E15x, W15x)
    "W150",
    "W151",
    "W152",
    # schema (E2xx)
    "E201",
    "E202",
    "E203",
    "E204",
    "E205",
    "E206",
    "E207",
    # model and task files (E3xx)
    "E301",
    "E302",
    "E303",
    "E304",
    "E305",
    "E306",
    "E307",
    "E308",
    "E309",
    "E310",
    "E311",
    "E312",
    "E313",
    "E314",
    "E315",
    "E316",
    "E317",
    "E318",
    "E319",
    "E320",
    "E321",
    "E322",
    "E323",
    "E324",
    "E325",
    "E326",
    "E327",
    "E328",
    "E329",
    "E331",
    "E332",
    "E333",
    "E334",
    "E335",
    "E336",
    "E337",
    "E338",
    "E339",
    "E340",
    "E341",
    "E342",
    "E343",
    "E344",
    "E350",
    "E351",
    "E352",
    "E353",
    "E354",
    "E355",
    "E356",
    "E357",
    "E358",
    "E359",
    "E360",
    "E361",
    "E362",
    "E363",
    "E364",
    "E365",
    "E370",
    "E371",
    "E372",
    "E373",
    "E374",
    "E375",
    "E376",
    "E377",
    "E378",
    "E380",
    "E381",
    "E382",
    "E383",
    "E384",
    "E385",
    "E388",
    "E389",
    # model and task files (W3xx)
    "W301",
    "W320",
    "W321",
    "W322",
    "W323",
    "W324",
    "W350",
    "W351",
    "W352",
    "W353",
    "W380",
    "W381",
    "W390",
    "W391",
    "E395",
    "W395",
    "W396",
    "W397",
    # bind, render and StackSets (E4xx)
    "E401",
    "E402",
    "E420",
    "E421",
    "E422",
    "E423",
    "E424",
    "E425",
    "E426",
    "E427",
    "E428",
    "E429",
    "E430",
    "E431",
    "E435",
    "E440",
    "E441",
    "E442",
    "E443",
    "E444",
    "E445",
    "E460",
    # files and templates: text templating, remote templates (E45x)
    "E450",
    "E451",
    "E465",
    "E466",
    "E467",
    "W465",
    # names finished per target (E47x)
    "E470",
    "E471",
    "E472",
    "E473",
    "E474",
    "E475",
    "E476",
    "E477",
    "E478",
    "E479",
    # OrgFormation's stack commands: update-, validate-, print-, describe-, delete-stacks (E48x)
    "E480",
    "E481",
    "E482",
    "E483",
    "E484",
    "E485",
    "E486",
    "E488",
    "E489",
    "W480",
    "W490",
    # bind, render and StackSets (W4xx)
    "W401",
    "W405",
    "W440",
    "W441",
    "W442",
    "W450",
    "W451",
    # graph (E5xx)
    "E501",
    "E502",
    # plan (E6xx)
    "E601",
    "E602",
    "E603",
    "E604",
    "E605",
    "E606",
    "E610",
    "E611",
    "E612",
    "E613",
    "E614",
    "E620",
    "E621",
    "E622",
    "E623",
    "E624",
    "E625",
    "E626",
    "E630",
    # plan (W6xx)
    "W601",
    "W602",
    "W603",
    "W604",
    "W605",
    "W606",
    "W610",
    "W611",
    "W612",
    "W620",
    "W621",
    "W622",
    "W630",
    "W631",
    "W640",
    # apply (E7xx)
    "E701",
    "E702",
    "E703",
    "E705",
    "E706",
    "E707",
    "E708",
    "E709",
    "E710",
    # state addresses (E711-E719)
    "E711",
    "E712",
    "E713",
    "E714",
    "E715",
    "E720",
    # apply (W7xx)
    "W701",
    "W702",
    "W711",
    # init (E8xx, W8xx)
    "E801",
    "E802",
    "E803",
    "W801",
    "W802",
    "W803",
]

REGISTERED: frozenset[str] = frozenset(get_args(CodeId))


def code_id(text: str) -> CodeId:
    """`text` as a registered code; ValueError for any other text (a code read from a file)."""
    if text not in REGISTERED:
        raise ValueError(f"diagnostic code {text} is not registered")
    return cast("CodeId", text)


@dataclass(frozen=True, slots=True)
class Code:
    """What a code means and what to do about it (`orgc explain CODE`)."""

    title: str
    explanation: str


def _load_codes() -> dict[str, Code]:
    text = (resources.files("orgc") / "data" / "codes.json").read_text(encoding="utf-8")
    return {
        code_id(code): Code(entry["title"], entry["explanation"])
        for code, entry in json.loads(text).items()
    }


# The explanations, by code, as orgc/data/codes.json gives them.
CODES: Mapping[str, Code] = _load_codes()


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: CodeId
    message: str
    span: Span | None = None

    def __post_init__(self) -> None:
        # mypy checks every code written in orgc; this catches one that arrives as data.
        if self.code not in REGISTERED:
            raise ValueError(f"diagnostic code {self.code} is not registered")

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.code.startswith("W") else Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)

    def __str__(self) -> str:
        where = str(self.span) if self.span else "orgc"
        return f"{where}: {self.severity.value}[{self.code}]: {self.message}"


class Diagnostics:
    """A collector: stages add to it and never stop at the first problem."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []
        self._seen: set[Diagnostic] = set()

    def add(self, code: CodeId, message: str, span: Span | None = None) -> None:
        diagnostic = Diagnostic(code, message, span)
        if diagnostic not in self._seen:
            self._seen.add(diagnostic)
            self._items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic.code, diagnostic.message, diagnostic.span)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self._items)

    @property
    def error_count(self) -> int:
        return sum(1 for d in self._items if d.severity is Severity.ERROR)

    def sorted(self) -> tuple[Diagnostic, ...]:
        return tuple(sorted(self._items, key=Diagnostic.sort_key))

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self._items)


class StageError(Exception):
    """Raised at a stage boundary when the collected diagnostics hold an error.

    The one exception that carries diagnostics: the CLI prints `diagnostics` of any StageError.
    Subclasses (`PlanError`, `StalePlan`, `StateError`, `EmulatorUnavailable`) add no field;
    they only name where the failure came from, for the callers that must tell them apart.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or '' when none is close."""
    import difflib

    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f" (did you mean {matches[0]}?)" if matches else ""
