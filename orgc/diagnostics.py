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
    # --- hostile input: bounds on reading, the project root, CloudFormation limits ----------
    # Limits live in orgc/data/limits.json; each message names the one that was passed.
    "E112": Code(
        "file too large",
        "orgc reads files up to the size in orgc/data/limits.json (orgc.file.bytes). A file "
        "larger than that is not an organization, task or template file; split it.",
    ),
    "E113": Code(
        "not UTF-8 text",
        "orgc's files, the files !ReadFile reads and the output of !Cmd are UTF-8 text. The file "
        "holds bytes that are not (a binary file, or text saved in another encoding); the "
        "position is the first such byte. Save it as UTF-8.",
    ),
    "E114": Code(
        "YAML aliases expand too far",
        "YAML aliases (*name) repeat what an anchor (&name) holds; nested, a few lines can expand "
        "into billions of values. orgc builds at most orgc.yaml.aliases alias uses and "
        "orgc.yaml.aliasNodes values from them per file. Write the repeated parts out, or use "
        "fewer levels of aliases.",
    ),
    "E115": Code(
        "nesting too deep",
        "Mappings and lists nest at most orgc.yaml.depth levels (orgc/data/limits.json), "
        "included files counted. No organization, task or template file needs more.",
    ),
    "E116": Code(
        "number too long",
        "An unquoted integer has more digits than orgc.yaml.integerDigits; no value in orgc's "
        "files is such a number. Quote it if it is text.",
    ),
    "E117": Code(
        "task file not read",
        "The directory orgc was pointed at holds task files, but none of them has an "
        "update-organization task, so orgc would read only the organization file and ignore "
        "the tasks. Pass the task file you mean, or repair the one that lost its "
        "update-organization task.",
    ),
    "E118": Code(
        "render output refused",
        "orgc render writes each stack under --out/<task>/<account>/<region>/; a name that is "
        "not a single path segment (it holds / or is ..) would write elsewhere: rename the task. "
        "Or --out cannot be written (it is a file, or not writable): name another directory.",
    ),
    "E319": Code(
        "account matrix too large",
        "An Orgc::ORG::AccountMatrix makes at most orgc.accountMatrix.accounts accounts "
        "(orgc/data/limits.json). Split it, or list fewer teams or environments.",
    ),
    "E364": Code(
        "Jinja rendering too large",
        "A template rendered with TemplatingContext may produce at most orgc.jinja.outputBytes "
        "characters and run at most orgc.jinja.steps lines of template code, every loop "
        "iteration counted (orgc/data/limits.json). The template loops too often, or without "
        "end, or builds a huge value.",
    ),
    "E365": Code(
        "CloudFormation template limit",
        "CloudFormation refuses a template over its quotas: the body size (51,200 bytes passed "
        "inline, 1 MB from S3), and the number of resources, outputs, parameters and mappings. "
        "The values and their sources are in orgc/data/limits.json. Split the template into "
        "tasks of their own.",
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
    "E320": Code(
        "not a task file",
        "A task file maps task names to tasks. A CloudFormation template (it has "
        "AWSTemplateFormatVersion) is deployed by naming it in the Template of an update-stacks "
        "task; an organization file (it has Organization) is named in the Template of the "
        "update-organization task.",
    ),
    "E321": Code(
        "unknown task type",
        "Task types are update-organization, update-stacks, include, copy-to-s3, and the tool "
        "chains update-cdk, update-serverless.com, apply-tf, register-type and "
        "annotate-organization.",
    ),
    "E322": Code(
        "unknown task attribute",
        "Each task type takes its own attributes besides the common ones (Type, DependsOn, "
        "Skip, TaskRoleName, TaskViaRoleArn, ForceDeploy, LogVerbose); this one is not among "
        "them, usually a misspelling.",
    ),
    "E323": Code(
        "missing task attribute",
        "Every task needs a Type, and some types need more: update-stacks a Template and a "
        "StackName, include a Path, copy-to-s3 a LocalPath, a RemotePath and an "
        "OrganizationBinding.",
    ),
    "E324": Code(
        "wrong attribute type",
        "The attribute's value has the wrong shape: text where a mapping is expected, a list "
        "where true or false is expected, and so on.",
    ),
    "E325": Code(
        "value not allowed",
        "The value is of the right type but not one the attribute allows: a number below its "
        "minimum, a DeploymentMode other than Stacks or StackSet, a RemotePath that is not "
        "s3://..., or a template that lives outside the project.",
    ),
    "E326": Code(
        "task file path not found",
        "Template, Path and LocalPath are paths relative to the task file that holds them, and "
        "the file or directory must exist.",
    ),
    "E327": Code(
        "task file path outside the project",
        "Every file a task reads lies inside the project root (the directory orgc was pointed "
        "at, or --root), so that a plan depends on the repository only.",
    ),
    "E328": Code(
        "more than one update-organization task",
        "A tree of task files has at most one task that manages the organization "
        "(update-organization, or OrgFormation's annotate-organization). Every other task "
        "runs after it.",
    ),
    "E329": Code(
        "duplicate stack name",
        "Two update-stacks tasks deploy stacks of the same StackName; each would overwrite the "
        "other's stacks. Give each task its own StackName; a file included twice usually builds "
        "it from a parameter with !Sub.",
    ),
    "E330": Code(
        "unknown DependsOn",
        "DependsOn names tasks (or includes) of the same task file; a task of an included file "
        "is reached through its include. OrgFormation only warns about an unknown name and "
        "then ignores the dependency; orgc refuses it.",
    ),
    "E331": Code(
        "DependsOn cycle",
        "Tasks that wait for each other can never start. The message shows the loop; remove one "
        "of its dependencies. DependsOn on an include means every task of that include.",
    ),
    "E332": Code(
        "include cycle",
        "A task file includes itself, directly or through other task files.",
    ),
    "E333": Code(
        "bad parameter declaration",
        "A task file parameter is a mapping with a Type (String, Number, Boolean, List<String>, "
        "List<Number>, CommaDelimitedList or OrganizationBinding) and optionally a Default, "
        "a Description and AllowedValues.",
    ),
    "E334": Code(
        "parameter without a value",
        "A parameter takes its value from the command line (--parameter name=value), from the "
        "Parameters of the include that includes its file, or from its Default; this one has "
        "none of them.",
    ),
    "E335": Code(
        "undeclared parameter",
        "A --parameter given on the command line must be declared under Parameters of a task "
        "file; a misspelt name would otherwise be ignored silently.",
    ),
    "E336": Code(
        "parameter value does not fit its type",
        "The value given to a parameter cannot be read as its Type (a Number that is not a "
        "number, a Boolean other than true or false), or is not among its AllowedValues.",
    ),
    "E337": Code(
        "unknown map or key",
        "!FindInMap [Map, Key, Key] looks up the task file's Mappings; the map or one of the "
        "keys is not there.",
    ),
    "E338": Code(
        "expression cannot be evaluated",
        "A task file expression (!Sub, !Join, !Select, !FindInMap, a parameter's Default) has "
        "arguments of the wrong shape or refers back to itself.",
    ),
    "E339": Code(
        "unknown organization binding",
        "A binding attribute written as !Ref Name names a binding of the task file's "
        "OrganizationBindings or a parameter of Type OrganizationBinding; there is no such one.",
    ),
    "E340": Code(
        "duplicate task name",
        "Tasks of an included file are named <Include>-<Task>; that name is already taken by "
        "another task of the tree. Rename one of them.",
    ),
    "E341": Code(
        "parameter and binding share a name",
        "!Ref Name would be ambiguous: a name is either a parameter or an organization binding "
        "of the task file.",
    ),
    "E342": Code(
        "value depends on the target",
        "The attribute must be known before anything is deployed (a stack name, a path, a "
        "flag), but its value is an expression known only per target account or region, or a "
        "!Ref of a name that is not a parameter of the file.",
    ),
    "E343": Code(
        "copy-to-s3 path orgc cannot resolve",
        "A copy-to-s3 RemotePath may use ${AWS::Region} (each region of its binding) and "
        "${AWS::AccountId} (the management account, which puts the object); other variables "
        "name values of target accounts, which orgc does not use for copy-to-s3. Write the path "
        "out, or use an update-stacks task for per-account content.",
    ),
    "E344": Code(
        "copy-to-s3 source unreadable",
        "The LocalPath of a copy-to-s3 task could not be read (or zipped). Check that it exists "
        "and is readable.",
    ),
    "W320": Code(
        "task type not run by orgc",
        "orgc checks tasks of tool chains it does not drive (CDK, Serverless Framework, "
        "Terraform, CloudFormation type registration, annotate-organization) and orders the "
        "other tasks around them, but does not run them. Run those tool chains separately.",
    ),
    "W321": Code(
        "parameter not declared by the included file",
        "The include passes a parameter that the included task file does not declare; the "
        "value is not used. Usually a misspelling.",
    ),
    "W322": Code(
        "deprecated attribute name",
        "OrganizationBinding and OrganizationBindingRegion on an update-stacks task are the old "
        "names of DefaultOrganizationBinding and DefaultOrganizationBindingRegion.",
    ),
    "W323": Code(
        "String parameter given a list",
        "A String parameter received a list or a mapping; OrgFormation passes it on as it is, "
        "and so does orgc. Declare the parameter List<String> if a list is meant.",
    ),
    "W324": Code(
        "attribute ignored",
        "The attribute has no effect: update-stacks tasks always use the organization file of "
        "the update-organization task.",
    ),
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
    "E353": Code(
        "unsupported template format version",
        "AWSTemplateFormatVersion of an annotated template is '2010-09-09-OC' (or the plain "
        "CloudFormation '2010-09-09'); quote it so YAML keeps it a string.",
    ),
    "E354": Code(
        "template rendering failed",
        "A task with TemplatingContext renders its template with Jinja2 (sandboxed, undefined "
        "variables are errors) before reading it as YAML. The message gives Jinja's reason at the "
        "line of the template where rendering stopped.",
    ),
    "E355": Code(
        "not a template",
        "An annotated template is a YAML mapping with a Resources section that maps logical ids "
        "to resources.",
    ),
    "E356": Code(
        "malformed resource",
        "A resource is a mapping with a Type (a string such as AWS::S3::Bucket) and, usually, "
        "Properties.",
    ),
    "E357": Code(
        "unknown named binding",
        "`!Ref Name` in OrganizationBinding, ForeachAccount or DefaultOrganizationBinding names a "
        "binding of the template's OrganizationBindings section or of the task's "
        "OrganizationBindings; this one is in neither.",
    ),
    "E358": Code(
        "attribute given twice",
        "ForeachAccount and its old name Foreach mean the same thing; a resource takes one of "
        "them.",
    ),
    "E359": Code(
        "malformed DependsOnAccount or DependsOnRegion",
        "DependsOnAccount is !Ref of an account or a list of them; DependsOnRegion is a region "
        "name or a list of them.",
    ),
    "E360": Code(
        "unknown template section",
        "The top level of an annotated template takes CloudFormation's sections "
        "(AWSTemplateFormatVersion, Description, Metadata, Parameters, Rules, Mappings, "
        "Conditions, Transform, Resources, Outputs, Globals, Hooks) and OrgFormation's "
        "(OrganizationBindings, DefaultOrganizationBinding, DefaultOrganizationBindingRegion, "
        "Organization). Check the spelling.",
    ),
    "E361": Code(
        "unknown resource attribute",
        "A resource takes CloudFormation's attributes (Type, Properties, DependsOn, Condition, "
        "DeletionPolicy, UpdateReplacePolicy, UpdatePolicy, CreationPolicy, Metadata) and "
        "OrgFormation's (OrganizationBinding, ForeachAccount or Foreach, DependsOnAccount, "
        "DependsOnRegion). A misspelt OrganizationBinding would otherwise deploy the resource "
        "with the default binding.",
    ),
    "E362": Code(
        "invalid logical id",
        "CloudFormation logical ids are letters and digits only (A-Z, a-z, 0-9).",
    ),
    "W350": Code(
        "deprecated section name",
        "OrganizationBinding and OrganizationBindingRegion at the top of a template are the old "
        "names of DefaultOrganizationBinding and DefaultOrganizationBindingRegion; rename them.",
    ),
    "W351": Code(
        "resource deployed nowhere",
        "The resource has no OrganizationBinding and neither the template nor the task has a "
        "DefaultOrganizationBinding, so no stack holds it. Give it a binding, or remove it.",
    ),
    "W352": Code(
        "region of a loop ignored",
        "ForeachAccount repeats a resource once per account inside each stack that holds it; "
        "the stacks' regions come from the resource's OrganizationBinding, so a Region in "
        "ForeachAccount has no effect.",
    ),
    # --- bind and render (E401-E449, W401-W409) ----------------------------------------------
    "E401": Code(
        "unknown account or OU",
        "A binding or DependsOnAccount refers with !Ref to a logical id that the organization "
        "file does not define.",
    ),
    "E402": Code(
        "account or OU of the wrong kind",
        "Account, ExcludeAccount and DependsOnAccount take accounts; OrganizationalUnit and "
        "ExcludeOrganizationalUnit take organizational units. The reference names something "
        "else.",
    ),
    "W401": Code(
        "binding without a region",
        "The binding selects accounts but no region, so it deploys nothing. Give it a Region, or "
        "give the template or the task a DefaultOrganizationBindingRegion.",
    ),
    # render (E420-E449, W405-W409)
    "E420": Code(
        "unknown name",
        "A !Ref, !GetAtt, ${} of a !Sub or a DependsOn names nothing this template declares "
        "and nothing the organization holds. Template expressions can name the template's "
        "parameters and resources, CurrentAccount (or AWSAccount), and the logical ids of "
        "accounts, OUs, policies and the root; task parameter values only the latter.",
    ),
    "E421": Code(
        "unknown attribute",
        "Accounts have AccountName, AccountId, Alias, RootEmail, Tags.<key>, "
        "OrganizationAccessRoleName and BuildAccessRoleName; OUs, policies and the root have "
        "none (!Ref gives their id).",
    ),
    "E422": Code(
        "value missing from the organization",
        "The expression reads a tag, alias or root email that the account does not have. Add it "
        "to the account in the organization file, or change the expression.",
    ),
    "E423": Code(
        "ambiguous reference",
        "The resource referred to is deployed to several stacks, so orgc cannot tell which "
        "copy's value is meant. Name the account with the explicit form "
        "`!Ref Account.Resources.Resource` or `!GetAtt Account.Resources.Resource.Attribute`; "
        "when the account holds it in several regions, the referring stack's own region wins.",
    ),
    "E424": Code(
        "resource not deployed there",
        "The resource referred to is deployed to no stack (its binding selects nothing), or not "
        "to the account the explicit form names.",
    ),
    "E425": Code(
        "unknown binding",
        "Fn::EnumTargetAccounts, Fn::EnumTargetRegions and Fn::TargetCount take the name of a "
        "binding in the template's (or the task's) OrganizationBindings.",
    ),
    "E426": Code(
        "malformed expression",
        "An OrgFormation expression has the wrong shape: see the message for the form it takes.",
    ),
    "E427": Code(
        "value not known before deploy",
        "!MD5, !CopyValue's arguments and task parameter values are computed by orgc before "
        "CloudFormation runs, so they cannot use values only CloudFormation knows (a resource's "
        "attribute, a template parameter, AWS::NoValue, ...).",
    ),
    "E428": Code(
        "undeclared parameter",
        "The task gives a value to a parameter the template does not declare; CloudFormation "
        "would refuse it. Remove it, or declare it in the template's Parameters.",
    ),
    "E429": Code(
        "parameter without a value",
        "The template's parameter has no Default and the task gives it no value; CloudFormation "
        "would refuse to create the stack.",
    ),
    "E430": Code(
        "ambiguous export",
        "Several stacks of this project export the name !CopyValue reads. Give the account and "
        "region: !CopyValue [name, account id, region].",
    ),
    "E431": Code(
        "stack reads its own export",
        "A !CopyValue reads an export of the very stack it is in; the stack would wait for "
        "itself. Refer to the resource with !Ref or !GetAtt instead.",
    ),
    # StackSet mode (E440-E449, W440-W449): a task with DeploymentMode: StackSet
    "E440": Code(
        "StackSet deploys to the management account",
        "A service-managed StackSet never deploys to the organization's management account, so "
        "a StackSet-mode task cannot bind it (IncludeMasterAccount, or Account naming it). Take "
        "it out of the binding and deploy to it from a task with DeploymentMode: Stacks.",
    ),
    "E441": Code(
        "StackSet with cross-stack values",
        "A StackSet gives every account the same template and parameters and has no outputs "
        "orgc can read, so a StackSet-mode task can neither take values from other stacks "
        "(cross-account !Ref/!GetAtt, !CopyValue) nor give values to them. Use DeploymentMode: "
        "Stacks, or move the part that passes values into a task of its own.",
    ),
    "E442": Code(
        "StackSet resources bound to different targets",
        "The template's resources are bound to different accounts or regions, so the targets "
        "would hold different templates; a StackSet deploys one template everywhere. Give every "
        "resource the same binding, or move the odd ones into a task of their own.",
    ),
    "E443": Code(
        "StackSet parameter differs per target",
        "A task parameter evaluates to different values in different accounts or regions "
        "(CurrentAccount, an account attribute, AWS::AccountId in the task file); a StackSet "
        "passes one value to every account. Give it one value, and let the template use "
        "${AWS::AccountId} or ${AWS::Region}, which CloudFormation resolves in each account.",
    ),
    "E444": Code(
        "StackSet template differs per target",
        "orgc fills in CurrentAccount and account attributes per account, so the template "
        "would differ between targets. The message names the first place where it does. Use a "
        "value every account shares (CloudFormation's own ${AWS::AccountId} and ${AWS::Region} "
        "are fine), DeploymentMode: Stacks, or move that part into a task of its own.",
    ),
    "E445": Code(
        "invalid StackSet name",
        "A StackSet is named after the task's StackName, which must then start with a letter "
        "and hold only letters, digits and hyphens, 128 characters at most.",
    ),
    "W440": Code(
        "stack setting ignored by a StackSet",
        "TerminationProtection, UpdateProtection, StackPolicy, CloudFormationRoleName, "
        "DisableStackRollbacks, DependsOnAccount and DependsOnRegion apply to stacks orgc "
        "deploys itself; AWS deploys a StackSet's instances with its own roles and in its own "
        "order, so orgc ignores them in StackSet mode.",
    ),
    "W441": Code(
        "StackSet reaches accounts that join later",
        "Accounts bound one by one are reached through their OU, with an account filter. "
        "Automatic deployment works by OU, so accounts that join that OU later get the stack "
        "too. Bind the OU if that is what you want; use DeploymentMode: Stacks to deploy to "
        "exactly the named accounts.",
    ),
    "W442": Code(
        "orphaned StackSet",
        "A StackSet orgc created belongs to a task that is no longer in the task files. It is "
        "left in place; apply with --perform-cleanup deletes its instances and the StackSet.",
    ),
    "W405": Code(
        "enumeration selects nothing",
        "Fn::EnumTargetAccounts or Fn::EnumTargetRegions gives an empty list here, which "
        "CloudFormation refuses in most places. Guard the resource with a Condition on "
        "Fn::TargetCount, as OrgFormation's documentation shows.",
    ),
    # --- graph (E501-E509) -------------------------------------------------------------------
    "E501": Code(
        "dependency cycle",
        "Stacks and tasks wait for each other in a circle (through DependsOn, cross-account "
        "references, !CopyValue, DependsOnAccount or DependsOnRegion), so none can start. The "
        "message shows the circle; remove one of its links.",
    ),
    "E502": Code(
        "value from a stack that is not deployed",
        "A reference takes its value from a stack this run does not deploy (its task is "
        "skipped, or its binding has no target there). Deploy the producer, or stop referring "
        "to it.",
    ),
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
    "E610": Code(
        "export not found",
        "A !CopyValue names an export that no stack of this run produces and that does not "
        "exist in the account and region it is read from. Check the export name, account and "
        "region, or deploy the stack that exports it first.",
    ),
    "W610": Code(
        "stack left alone",
        "The stack is in a state orgc must not touch (an update rollback that failed, a failed "
        "delete, an operation in progress). orgc plans nothing for it rather than risk deleting "
        "data; repair it in CloudFormation (continue-update-rollback, or finish the operation) "
        "and plan again.",
    ),
    "W611": Code(
        "orphaned stack",
        "A stack orgc deployed belongs to a task that is no longer in the task files. It is "
        "left in place and listed; apply with --perform-cleanup deletes it.",
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
