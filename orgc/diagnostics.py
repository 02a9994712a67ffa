"""Diagnostics: one registry of codes, one collector, one way to print them.

Every stage reports problems as `Diagnostic`s with a stable code from `CODES` and a position
(`Span`) found by the loader's locator. Stages collect; they raise `StageError` only at their
boundary, so a user sees every mistake in one run.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


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


@dataclass(frozen=True, slots=True)
class Code:
    """What a code means and what to do about it (`orgc explain CODE`)."""

    title: str
    explanation: str


# Stable ids: E1xx load, E2xx schema, E3xx model, E4xx bind, E5xx graph, E6xx plan, E7xx apply;
# W is a warning. A code, once published, keeps its meaning.
CODES: dict[str, Code] = {
    # --- load ---------------------------------------------------------------------------
    "E100": Code(
        "file cannot be read",
        "The file does not exist or cannot be read. Check the path you passed to orgc.",
    ),
    "E101": Code(
        "YAML syntax error",
        "The file is not valid YAML. The position points at where the parser gave up; the "
        "mistake is often on the line before (an indentation or an unclosed quote).",
    ),
    "E102": Code(
        "duplicate key",
        "A mapping holds the same key twice; plain YAML would keep one of them silently. orgc "
        "keeps the first and reports the second: remove or rename one.",
    ),
    "E103": Code(
        "unknown tag",
        "orgc knows the CloudFormation short forms (!Ref, !GetAtt, !Sub, ...) and OrgFormation's "
        "tags (!Include, !ReadFile, !CopyValue, !JsonString, !MD5). Any other tag is a mistake.",
    ),
    "E104": Code(
        "malformed tag argument",
        "The tag's argument has the wrong shape, e.g. `!GetAtt Resource` without `.Attribute`, "
        "or `!Include` with something other than a path.",
    ),
    "E105": Code(
        "path outside the project",
        "!Include and !ReadFile read files inside the project root only (the directory orgc was "
        "pointed at, or --root). Move the file into the project.",
    ),
    "E106": Code(
        "included file not found",
        "!Include and !ReadFile paths are relative to the file that contains them.",
    ),
    "E107": Code(
        "!Cmd refused",
        "!Cmd runs a shell command while reading the files. orgc refuses it unless you pass "
        "--allow-cmd, because reading a repository should never run code from it.",
    ),
    "E108": Code(
        "include cycle",
        "A file includes itself, directly or through other files.",
    ),
    "E109": Code(
        "bad merge key",
        "`<<:` merges a mapping (or a list of mappings) into the enclosing mapping.",
    ),
    "E110": Code(
        "not an orgc file",
        "The file is neither an organization file (it has an `Organization:` section) nor a "
        "task file. Pass an organization.yml, a task file, or a directory holding them.",
    ),
    "E111": Code(
        "non-string key",
        "Mapping keys in orgc files are strings; quote the key.",
    ),
    # --- schema -------------------------------------------------------------------------
    "E201": Code(
        "missing required property",
        "The resource type requires this property; add it.",
    ),
    "E202": Code(
        "unknown property",
        "The property is not one the resource type accepts; it is usually a misspelling.",
    ),
    "E203": Code(
        "wrong type",
        "The value has the wrong type (a list where a single value is expected, a number where "
        "a string is expected, ...).",
    ),
    "E204": Code(
        "value out of range",
        "The value does not match the allowed range or pattern, as given in the message.",
    ),
    "E205": Code(
        "unknown resource type",
        "Organization resources are typed OC::ORG::MasterAccount, OC::ORG::Account, "
        "OC::ORG::OrganizationRoot, OC::ORG::OrganizationalUnit, OC::ORG::ServiceControlPolicy, "
        "OC::ORG::PasswordPolicy, or one of orgc's additions: Orgc::ORG::Policy (tag, backup, "
        "AI-services opt-out and resource control policies) and Orgc::ORG::AccountMatrix.",
    ),
    "E206": Code(
        "value not allowed",
        "The value is not one of the allowed values listed in the message.",
    ),
    "E207": Code(
        "unknown top-level key",
        "The key is not allowed at the top level of an organization file.",
    ),
    # --- model --------------------------------------------------------------------------
    "E301": Code(
        "unknown reference",
        "A !Ref names a logical id that the organization file does not define.",
    ),
    "E302": Code(
        "plain string where a reference is needed",
        "Accounts, OUs and policies are referenced with !Ref LogicalId; a plain string is the "
        "name of nothing. Write `!Ref X` (or `'*'` for all of a kind where allowed).",
    ),
    "E303": Code(
        "duplicate account id",
        "Two accounts declare the same AccountId.",
    ),
    "E304": Code(
        "duplicate root email",
        "Two accounts declare the same RootEmail; AWS requires a unique email per account.",
    ),
    "E305": Code(
        "account id read as a number",
        "An unquoted account id is read by YAML as a number, which drops leading zeros. Quote "
        "account ids: AccountId: '012345678901'.",
    ),
    "E306": Code(
        "duplicate policy name",
        "Two policies of the same type have the same PolicyName; AWS requires unique names.",
    ),
    "E307": Code(
        "account in two OUs",
        "An account can live in one organizational unit only.",
    ),
    "E308": Code(
        "OU cycle",
        "Organizational units nest in a tree; this OU contains itself, directly or not.",
    ),
    "E309": Code(
        "OU nesting too deep",
        "AWS allows organizational units to nest at most five levels below the root.",
    ),
    "E310": Code(
        "more than one",
        "An organization has one management account (OC::ORG::MasterAccount) and one "
        "OC::ORG::OrganizationRoot at most.",
    ),
    "E311": Code(
        "reference to the wrong kind",
        "The reference points at a resource of another type than the property expects "
        "(an account where an OU is expected, a tag policy where an SCP is expected, ...).",
    ),
    "E312": Code(
        "policy document too large",
        "The policy document, minified as AWS counts it, is longer than the policy type allows.",
    ),
    "E313": Code(
        "too many policies on a target",
        "AWS limits how many policies of one type attach to a root, OU or account; for SCPs "
        "the AWS-managed FullAWSAccess counts too.",
    ),
    "E314": Code(
        "OU with two parents",
        "An organizational unit is listed as a child of two OUs.",
    ),
    "E315": Code(
        "duplicate OU name",
        "Two organizational units under the same parent have the same name; AWS refuses that.",
    ),
    "E316": Code(
        "invalid policy document",
        "A policy document is a JSON object (written as YAML or as a JSON string).",
    ),
    "E317": Code(
        "bad account matrix",
        "An account matrix pattern uses a variable that does not exist, or the matrix makes "
        "two accounts with the same logical id, name or email.",
    ),
    "E318": Code(
        "too many organizational units",
        "AWS allows at most 1,000 organizational units in an organization.",
    ),
    "W301": Code(
        "policy near its size limit",
        "The policy document uses more than 90% of its size limit; the next edit may not fit.",
    ),
    "W302": Code(
        "management account in no OU",
        "Informational: an account that no OU lists lives in the root.",
    ),
    # --- task files (E320-E349, W320-W329) -------------------------------------------------
    # --- templates (E350-E379, W350-W359) ----------------------------------------------------
    "E350": Code(
        "unknown binding attribute",
        "A binding takes Account, OrganizationalUnit, ExcludeAccount, ExcludeOrganizationalUnit, "
        "IncludeMasterAccount, AccountsWithTag and Region. Check the spelling.",
    ),
    "E351": Code(
        "binding does not name accounts by reference",
        "Accounts and OUs in a binding are named with !Ref and their logical id (or '*' for "
        "all of them); a literal account id or a plain name is not accepted.",
    ),
    "E352": Code(
        "malformed binding",
        "A binding is a mapping of binding attributes (or !Ref of a named binding); Region is a "
        "region or a list of regions, IncludeMasterAccount a boolean, AccountsWithTag a tag key.",
    ),
    # --- bind and render (E401-E449, W401-W409) ----------------------------------------------
    # --- graph (E501-E509) -------------------------------------------------------------------
    # --- plan ---------------------------------------------------------------------------
    "E601": Code(
        "cannot delete OU",
        "The OU that the files no longer declare still holds accounts or OUs that orgc does not "
        "manage. Move them, or declare them in the organization file.",
    ),
    "E602": Code(
        "wrong management account",
        "The MasterAccount's AccountId is not the management account of the organization that "
        "the credentials reach.",
    ),
    "E603": Code(
        "account not in the organization",
        "The account declares an AccountId that the organization does not hold. orgc does not "
        "invite accounts; invite it first, or remove the AccountId to create a new account.",
    ),
    "E604": Code(
        "saved plan is stale",
        "The organization changed since the plan was made. Make a new plan.",
    ),
    "E605": Code(
        "saved plan inputs changed",
        "The files the plan was made from changed since. Make a new plan.",
    ),
    "E606": Code(
        "not a saved plan",
        "The file is not a plan saved by `orgc plan --out`, or it was made by another version.",
    ),
    "W603": Code(
        "suspended account",
        "The account is suspended (closed) in AWS; orgc cannot change it and leaves it alone.",
    ),
    "W601": Code(
        "account forgotten",
        "The account is no longer in the files: orgc stops managing it but leaves it in the "
        "organization. Set CloseAccountsOnRemoval: true on the OrganizationRoot to close it.",
    ),
    "W602": Code(
        "account name differs",
        "AWS does not let orgc rename an account through the Organizations API; the name in AWS "
        "stays as it is.",
    ),
    # --- apply --------------------------------------------------------------------------
    "E701": Code(
        "AWS call failed",
        "AWS refused a call; the message gives the service's own reason.",
    ),
    "E702": Code(
        "state is locked",
        "Another orgc run holds the state lock. Wait for it, or if it died, remove the lock with "
        "`orgc state unlock`.",
    ),
    "E703": Code(
        "state changed underneath",
        "The state was written by someone else during this run. Run plan again.",
    ),
    "E704": Code(
        "account creation failed",
        "AWS could not create the account; the message gives AWS's failure reason.",
    ),
    "E705": Code(
        "no credentials",
        "boto3 found no AWS credentials. Use --profile, AWS_PROFILE, or the usual credential "
        "chain; for the embedded emulator pass --emulator.",
    ),
    "E706": Code(
        "emulator unavailable",
        "The embedded emulator needs the `emulator` extra: pip install 'orgc[emulator]'.",
    ),
    "E707": Code(
        "state unreadable",
        "The state document is not valid orgc state; it was not written by orgc or is damaged.",
    ),
    "E708": Code(
        "apply interrupted",
        "The run stopped before every change was made; what was done is recorded. Run plan and "
        "apply again to finish.",
    ),
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None

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

    def add(self, code: str, message: str, span: Span | None = None) -> None:
        if code not in CODES:
            raise KeyError(f"diagnostic code {code} is not registered")
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
    """Raised at a stage boundary when the collected diagnostics hold an error."""

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
