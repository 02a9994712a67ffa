"""Stage 3 (model), annotated templates: a CloudFormation template with OrgFormation's bindings.

A binding selects accounts by regions (FORMAT.md §2). A template holds resources, each with the
binding that places it (its own, a named one, or the template's default), the bindings it loops
over (`ForeachAccount`), and the accounts and regions whose stacks must finish first.

`build_template` reads the template of an `update-stacks` task: rendered as text first when
the task has a `TemplatingContext` (orgc.nunjucks), then checked, with OrgFormation's
attributes taken out of the resources and the task's own bindings put in place of the template's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.load import DataPath, LoadedFile, LoadOptions, load_file, resolved
from orgc.regions import unknown_region
from orgc.remote import RemoteTemplates

if TYPE_CHECKING:
    from orgc.tasks import StacksTask

# What an annotated template may declare as AWSTemplateFormatVersion; CloudFormation itself
# takes only the second, which is what the template keeps.
FORMAT_VERSIONS = ("2010-09-09-OC", "2010-09-09")

# Top-level sections CloudFormation (and SAM) knows: kept in `Template.sections` as written.
CLOUDFORMATION_SECTIONS = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Outputs",
    "Globals",
    "Hooks",
)

# OrgFormation's top-level sections: read here, never passed on. `Organization` is the
# organization file that old templates include; orgc takes the organization from the project.
ORGFORMATION_SECTIONS = (
    "OrganizationBindings",
    "DefaultOrganizationBinding",
    "DefaultOrganizationBindingRegion",
    "OrganizationBinding",
    "OrganizationBindingRegion",
    "Organization",
)

# Old top-level names, with the names that replace them.
RENAMED_SECTIONS: dict[str, str] = {
    "OrganizationBinding": "DefaultOrganizationBinding",
    "OrganizationBindingRegion": "DefaultOrganizationBindingRegion",
}

# Resource attributes CloudFormation takes: what `Resource.body` keeps.
RESOURCE_ATTRIBUTES = (
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
    "Metadata",
)

# Resource attributes OrgFormation adds: taken out of the body into `Resource`'s fields.
ORGFORMATION_RESOURCE_ATTRIBUTES = (
    "OrganizationBinding",
    "ForeachAccount",
    "Foreach",
    "DependsOnAccount",
    "DependsOnRegion",
)

# Binding attributes as written, with the Python field each becomes.
BINDING_ATTRIBUTES: dict[str, str] = {
    "Account": "accounts",
    "OrganizationalUnit": "organizational_units",
    "ExcludeAccount": "exclude_accounts",
    "ExcludeOrganizationalUnit": "exclude_organizational_units",
    "IncludeMasterAccount": "include_master_account",
    "AccountsWithTag": "accounts_with_tag",
    "Region": "regions",
}

# The plural keys of OrgFormation's first resource attribute, `OrganizationBindings` (before
# `OrganizationBinding` replaced it), as the binding attributes they are now.
OLD_BINDING_KEYS = {
    "Accounts": "Account",
    "OrganizationalUnits": "OrganizationalUnit",
    "ExcludeAccounts": "ExcludeAccount",
    "ExcludeOrganizationalUnits": "ExcludeOrganizationalUnit",
    "Regions": "Region",
    "IncludeMasterAccount": "IncludeMasterAccount",
    "AccountsWithTag": "AccountsWithTag",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """Accounts by regions, as written: logical ids, resolved against the organization by `bind`.

    `all_accounts` is `Account: '*'` (every account but the management account);
    `all_organizational_units` is `OrganizationalUnit: '*'`. `regions` empty with
    `regions_given` False means "take the default region" (DefaultOrganizationBindingRegion).
    """

    all_accounts: bool = False
    accounts: tuple[str, ...] = ()
    all_organizational_units: bool = False
    organizational_units: tuple[str, ...] = ()
    exclude_accounts: tuple[str, ...] = ()
    exclude_organizational_units: tuple[str, ...] = ()
    include_master_account: bool = False
    accounts_with_tag: str | None = None
    regions: tuple[str, ...] = ()
    regions_given: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    # Where each referenced logical id was written, for bind's "no such account" errors.
    ref_spans: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)

    def with_default_regions(self, regions: tuple[str, ...]) -> Binding:
        return self if self.regions_given else replace(self, regions=regions)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    """One resource of a template, with OrgFormation's attributes taken out of its body."""

    logical_id: str
    body: dict[str, Any]  # Type, Properties, DependsOn, Condition, ... as CloudFormation takes it
    binding: Binding | None = None  # None: the template's default binding
    foreach: Binding | None = None  # ForeachAccount (or its old name Foreach)
    depends_on_accounts: tuple[str, ...] = ()  # DependsOnAccount, logical ids
    depends_on_regions: tuple[str, ...] = ()  # DependsOnRegion
    span: Span | None = field(default=None, compare=False, repr=False)
    # Where each DependsOnAccount logical id was written, for bind's "no such account" errors.
    depends_on_spans: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """An annotated template as one task sees it (task-level bindings already applied).

    `sections` holds every top-level section CloudFormation knows (Description, Parameters,
    Mappings, Conditions, Outputs, Metadata, Transform, Rules, ...) as written, but for
    AWSTemplateFormatVersion, which becomes the '2010-09-09' CloudFormation takes; OrgFormation's
    sections are gone into the fields below. Data paths into `file` still locate any part of it
    (`("Resources", logical_id, ...)`); for a task with TemplatingContext, `file` is the rendered
    text and its positions are the lines of the source that made each part.
    """

    file: LoadedFile = field(compare=False, repr=False)
    sections: dict[str, Any]
    resources: dict[str, Resource]
    default_binding: Binding | None = None
    default_regions: tuple[str, ...] = ()
    bindings: dict[str, Binding] = field(default_factory=dict)  # named, by name


def parse_binding(
    value: Any,
    path: DataPath,
    file: LoadedFile,
    diagnostics: Diagnostics,
    *,
    old_keys: bool = False,
) -> Binding | None:
    """A binding written as a mapping at `path` of `file`; every mistake reported.

    `!Ref Name` of a named binding is not a mapping: the caller resolves it. With `old_keys`
    the mapping is in the plural keys of the old `OrganizationBindings` resource attribute.
    """
    keys = OLD_BINDING_KEYS if old_keys else {key: key for key in BINDING_ATTRIBUTES}
    if not isinstance(value, dict):
        diagnostics.add(
            "E352",
            "a binding is a mapping of Account, OrganizationalUnit, Region, ... or !Ref of a "
            "named binding",
            file.span(path),
        )
        return None
    fields: dict[str, Any] = {}
    ref_spans: dict[str, Span] = {}
    for written, item in value.items():
        where = path + (written,)
        key = keys.get(written, "")
        name = BINDING_ATTRIBUTES.get(key)
        if name is None:
            diagnostics.add(
                "E350",
                f"{written} is not a binding attribute{did_you_mean(written, keys)}; "
                f"a binding takes {', '.join(keys)}",
                file.source_map.key_span(where),
            )
            continue
        if key in ("Account", "OrganizationalUnit", "ExcludeAccount", "ExcludeOrganizationalUnit"):
            refs, star = _binding_refs(key, item, where, file, diagnostics, ref_spans)
            fields[name] = refs
            if star and key == "Account":
                fields["all_accounts"] = True
            elif star and key == "OrganizationalUnit":
                fields["all_organizational_units"] = True
            elif star:
                diagnostics.add(
                    "E351", f"{key} does not take '*'; list the refs to exclude", file.span(where)
                )
        elif key == "IncludeMasterAccount":
            if not isinstance(item, bool):
                diagnostics.add(
                    "E352", f"IncludeMasterAccount is true or false, not {item!r}", file.span(where)
                )
            else:
                fields[name] = item
        elif key == "AccountsWithTag":
            if not isinstance(item, str) or not item:
                diagnostics.add("E352", "AccountsWithTag is a tag key (a string)", file.span(where))
            else:
                fields[name] = item
        else:  # Region
            regions = [item] if isinstance(item, str) else item
            if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
                diagnostics.add(
                    "E352", "Region is a region name or a list of them", file.span(where)
                )
            else:
                _check_regions(regions, where, isinstance(item, list), file, diagnostics)
                fields["regions"] = tuple(dict.fromkeys(regions))
                fields["regions_given"] = True
    return Binding(**fields, span=file.source_map.key_span(path), ref_spans=ref_spans)


def _binding_refs(  # noqa: PLR0917
    key: str,
    value: Any,
    path: DataPath,
    file: LoadedFile,
    diagnostics: Diagnostics,
    ref_spans: dict[str, Span],
) -> tuple[tuple[str, ...], bool]:
    """The logical ids of a ref or list of refs, and whether '*' was among them."""
    items = value if isinstance(value, list) else [value]
    found: dict[str, None] = {}
    star = False
    for index, item in enumerate(items):
        where = path + (index,) if isinstance(value, list) else path
        if item == "*":
            star = True
        elif isinstance(item, dict) and isinstance(item.get("Ref"), str) and len(item) == 1:
            found.setdefault(item["Ref"])
            span = file.span(where + ("Ref",))
            if span is not None:
                ref_spans.setdefault(item["Ref"], span)
        elif isinstance(item, (str, int)) and str(item).isdigit():
            diagnostics.add(
                "E351",
                f"{key} takes !Ref of a logical id, not the account id {item}; write !Ref and "
                "the account's logical id",
                file.span(where),
            )
        elif isinstance(item, str):
            diagnostics.add(
                "E351", f"{key} takes refs: write !Ref {item} (or '*')", file.span(where)
            )
        else:
            diagnostics.add("E351", f"{key} takes !Ref X, a list of them, or '*'", file.span(where))
    return tuple(found), star


# --- reading a template ---------------------------------------------------------------------


def build_template(
    task: StacksTask,
    options: LoadOptions,
    diagnostics: Diagnostics,
    remote: RemoteTemplates | None = None,
) -> Template | None:
    """The template of `task`, checked, with the task's bindings in place of the template's.

    Task-level `DefaultOrganizationBinding`, `DefaultOrganizationBindingRegion` and named
    `OrganizationBindings` replace the template's (named ones by name), and the default region
    fills every binding written without a Region. Returns None when the file cannot be read,
    rendered or parsed, or holds no mapping; otherwise a Template of whatever could be built,
    with every mistake in `diagnostics`. Reads files, and a remote template through `remote`
    (orgc.remote; offline without one).
    """
    file = _load(task, options, diagnostics, remote or RemoteTemplates())
    if file is None:
        return None
    data = file.data
    if not isinstance(data, dict):
        diagnostics.add(
            "E355",
            f"{file.display} is not a template: a template is a mapping with a Resources section",
            file.span(()),
        )
        return None
    sections = _sections(data, file, diagnostics)
    named = _named_bindings(data, file, diagnostics)
    named.update(task.bindings)
    template_regions = _default_regions(data, file, diagnostics)
    default_regions = template_regions if task.default_regions is None else task.default_regions
    # Named bindings get the default region before anything refers to them, so a `!Ref` of one
    # sees the same binding as `Fn::EnumTargetRegions` does later.
    named = {name: binding.with_default_regions(default_regions) for name, binding in named.items()}
    default_key = _section_name(data, "OrganizationBinding", file, diagnostics)
    default_binding = None
    if default_key is not None:
        default_binding = _binding_or_ref(
            data[default_key], (default_key,), file, named, diagnostics
        )
    if task.default_binding is not None:
        default_binding = task.default_binding
    if default_binding is not None:
        default_binding = default_binding.with_default_regions(default_regions)
    # A default binding written wrong was reported; its resources are not "deployed nowhere".
    has_default = default_key is not None or task.default_binding is not None
    resources = _resources(data, file, named, has_default, default_regions, diagnostics)
    refs = _parameter_refs(data, task.parameters)
    if refs:
        named = {name: _through_parameters(b, refs) or b for name, b in named.items()}
        default_binding = _through_parameters(default_binding, refs)
        resources = {
            logical_id: replace(
                resource,
                binding=_through_parameters(resource.binding, refs),
                foreach=_through_parameters(resource.foreach, refs),
            )
            for logical_id, resource in resources.items()
        }
    return Template(
        file=file,
        sections=sections,
        resources=resources,
        default_binding=default_binding,
        default_regions=default_regions,
        bindings=named,
    )


def _load(
    task: StacksTask, options: LoadOptions, diagnostics: Diagnostics, remote: RemoteTemplates
) -> LoadedFile | None:
    if task.template_url is not None:
        found = remote.read(task.template_url, task.template_span, diagnostics)
        if found is None:
            return None
        text, local = found
        # A template read from S3 or a URL is named by its URL; relative !Include and
        # !ReadFile in it resolve against the task file.
        return load_file(
            local or task.template,
            options,
            diagnostics,
            text=text,
            templating=task.templating_context,
            display=None if local else task.template_url,
        )
    return load_file(
        resolved(task.template),
        options,
        diagnostics,
        templating=task.templating_context,
        where=task.template_span,
    )


def _sections(data: dict[str, Any], file: LoadedFile, diagnostics: Diagnostics) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    known = (*CLOUDFORMATION_SECTIONS, "Resources", *ORGFORMATION_SECTIONS)
    for key, value in data.items():
        if key == "AWSTemplateFormatVersion":
            if value not in FORMAT_VERSIONS:
                diagnostics.add(
                    "E353",
                    f"AWSTemplateFormatVersion is '2010-09-09-OC' or '2010-09-09', not {value!r}",
                    file.span((key,)),
                )
            sections[key] = FORMAT_VERSIONS[1]
        elif key in CLOUDFORMATION_SECTIONS:
            sections[key] = value
        elif key not in known:
            diagnostics.add(
                "E360",
                f"{key} is not a template section{did_you_mean(key, known)}; CloudFormation "
                "would refuse the template",
                file.source_map.key_span((key,)),
            )
    return sections


def _section_name(
    data: dict[str, Any], old: str, file: LoadedFile, diagnostics: Diagnostics
) -> str | None:
    """Which of a section's current name and its old name `old` to read, warning about `old`."""
    new = RENAMED_SECTIONS[old]
    if old in data:
        if new in data:
            message = f"{old} is the old name of {new}, which is also given and wins; remove {old}"
        else:
            message = f"{old} is the old name of {new}; rename it"
        diagnostics.add("W350", message, file.source_map.key_span((old,)))
    if new in data:
        return new
    return old if old in data else None


def _named_bindings(
    data: dict[str, Any], file: LoadedFile, diagnostics: Diagnostics
) -> dict[str, Binding]:
    section = data.get("OrganizationBindings")
    if section is None:
        return {}
    if not isinstance(section, dict):
        diagnostics.add(
            "E352",
            "OrganizationBindings is a mapping of binding names to bindings",
            file.span(("OrganizationBindings",)),
        )
        return {}
    named: dict[str, Binding] = {}
    for name, value in section.items():
        if value is None:
            # A named binding left empty binds nothing, as in OrgFormation: the resources
            # that refer to it are deployed nowhere.
            named[name] = Binding(span=file.source_map.key_span(("OrganizationBindings", name)))
            continue
        binding = parse_binding(value, ("OrganizationBindings", name), file, diagnostics)
        if binding is not None:
            named[name] = binding
    return named


def _parameter_refs(data: dict[str, Any], given: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Template parameters a binding may name in place of an account or OU (OrgFormation's
    `Account: !Ref usersAccount`): parameter → the logical ids its value refers to, the task's
    value first, else the declaration's Default (`Default: !Ref SharedUsersAccount`)."""
    declared = data.get("Parameters")
    if not isinstance(declared, dict):
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for name, declaration in declared.items():
        default = declaration.get("Default") if isinstance(declaration, dict) else None
        value = given.get(name, default)
        items = value if isinstance(value, list) else [value]
        refs = [_named_ref(item) for item in items]
        if items and all(refs):
            found[name] = tuple(ref for ref in refs if ref is not None)
    return found


def _through_parameters(
    binding: Binding | None, refs: dict[str, tuple[str, ...]]
) -> Binding | None:
    """`binding` with each template parameter it names replaced by what the parameter refers
    to (see `_parameter_refs`)."""
    if binding is None or not refs:
        return binding
    changes: dict[str, Any] = {}
    spans = dict(binding.ref_spans)
    for name in ("accounts", "organizational_units", "exclude_accounts"):
        written: tuple[str, ...] = getattr(binding, name)
        if not any(ref in refs for ref in written):
            continue
        replaced: dict[str, None] = {}
        for ref in written:
            for logical_id in refs.get(ref, (ref,)):
                replaced.setdefault(logical_id)
                if ref in spans:
                    spans.setdefault(logical_id, spans[ref])
        changes[name] = tuple(replaced)
    if not changes:
        return binding
    return replace(binding, **changes, ref_spans=spans)


def _default_regions(
    data: dict[str, Any], file: LoadedFile, diagnostics: Diagnostics
) -> tuple[str, ...]:
    key = _section_name(data, "OrganizationBindingRegion", file, diagnostics)
    if key is None:
        return ()
    value = data[key]
    regions = [value] if isinstance(value, str) else value
    if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
        diagnostics.add("E352", f"{key} is a region name or a list of them", file.span((key,)))
        return ()
    _check_regions(regions, (key,), isinstance(value, list), file, diagnostics)
    return tuple(dict.fromkeys(regions))


def _check_regions(
    regions: list[str], path: DataPath, listed: bool, file: LoadedFile, diagnostics: Diagnostics
) -> None:
    for index, region in enumerate(regions):
        problem = unknown_region(region)
        if problem:
            diagnostics.add("E363", problem, file.span((*path, index) if listed else path))


def _named_ref(value: Any) -> str | None:
    """The name in `!Ref Name`, or None when `value` is not a `!Ref`."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("Ref"), str):
        name: str = value["Ref"]
        return name
    return None


def _binding_or_ref(
    value: Any,
    path: DataPath,
    file: LoadedFile,
    named: dict[str, Binding],
    diagnostics: Diagnostics,
) -> Binding | None:
    """A binding written at `path`, or the named binding that `!Ref Name` there stands for."""
    name = _named_ref(value)
    if name is None:
        return parse_binding(value, path, file, diagnostics)
    if name in named:
        return named[name]
    if named:
        where = f"in OrganizationBindings{did_you_mean(name, named)}"
    else:
        where = "because neither the template nor the task has OrganizationBindings"
    diagnostics.add("E357", f"!Ref {name} names no binding {where}", file.span(path + ("Ref",)))
    return None


def _resources(  # noqa: PLR0917
    data: dict[str, Any],
    file: LoadedFile,
    named: dict[str, Binding],
    has_default: bool,
    default_regions: tuple[str, ...],
    diagnostics: Diagnostics,
) -> dict[str, Resource]:
    if "Resources" not in data:
        diagnostics.add(
            "E355",
            "the template has no Resources section; add one that maps logical ids to resources",
            file.span(()),
        )
        return {}
    section = data["Resources"]
    if not isinstance(section, dict):
        diagnostics.add(
            "E355",
            "Resources is a mapping of logical ids to resources",
            file.span(("Resources",)),
        )
        return {}
    resources: dict[str, Resource] = {}
    for logical_id, body in section.items():
        resource = _resource(
            logical_id, body, file, named, has_default, default_regions, diagnostics
        )
        if resource is not None:
            resources[logical_id] = resource
    return resources


def _resource(  # noqa: PLR0917
    logical_id: str,
    body: Any,
    file: LoadedFile,
    named: dict[str, Binding],
    has_default: bool,
    default_regions: tuple[str, ...],
    diagnostics: Diagnostics,
) -> Resource | None:
    path: DataPath = ("Resources", logical_id)
    key_span = file.source_map.key_span(path)
    if not (logical_id.isascii() and logical_id.isalnum()):
        diagnostics.add(
            "E362",
            f"logical id {logical_id!r} may hold letters and digits only (A-Z, a-z, 0-9)",
            key_span,
        )
    if not isinstance(body, dict):
        diagnostics.add(
            "E356", f"resource {logical_id} is a mapping with Type and Properties", file.span(path)
        )
        return None
    if "Type" not in body:
        diagnostics.add(
            "E356",
            f"resource {logical_id} has no Type; add one, e.g. Type: AWS::S3::Bucket",
            key_span,
        )
    elif not isinstance(body["Type"], str) or not body["Type"]:
        diagnostics.add(
            "E356",
            f"Type of {logical_id} is a resource type name such as AWS::S3::Bucket",
            file.span(path + ("Type",)),
        )
    known = (*RESOURCE_ATTRIBUTES, *ORGFORMATION_RESOURCE_ATTRIBUTES, "OrganizationBindings")
    for key in body:
        if key not in known:
            diagnostics.add(
                "E361",
                f"{key} is not a resource attribute{did_you_mean(key, known)}",
                file.source_map.key_span(path + (key,)),
            )
    binding = None
    if "OrganizationBinding" in body:
        where = path + ("OrganizationBinding",)
        binding = _binding_or_ref(body["OrganizationBinding"], where, file, named, diagnostics)
        if binding is not None:
            binding = binding.with_default_regions(default_regions)
    elif "OrganizationBindings" in body:
        # OrgFormation's first form: Accounts, OrganizationalUnits, Regions, ...
        where = path + ("OrganizationBindings",)
        diagnostics.add(
            "W350",
            "OrganizationBindings (Accounts, OrganizationalUnits, Regions, ...) is the old form "
            "of OrganizationBinding (Account, OrganizationalUnit, Region, ...); rename it and its "
            "keys",
            file.source_map.key_span(where),
        )
        binding = parse_binding(
            body["OrganizationBindings"], where, file, diagnostics, old_keys=True
        )
        if binding is not None:
            binding = binding.with_default_regions(default_regions)
    elif not has_default:
        diagnostics.add(
            "W351",
            f"{logical_id} has no OrganizationBinding and there is no DefaultOrganizationBinding, "
            "so it is deployed nowhere; add one of them",
            key_span,
        )
    accounts, spans = _depends_on_accounts(body, path, file, diagnostics)
    return Resource(
        logical_id=logical_id,
        body={key: value for key, value in body.items() if key in RESOURCE_ATTRIBUTES},
        binding=binding,
        foreach=_foreach(body, path, file, named, diagnostics),
        depends_on_accounts=accounts,
        depends_on_regions=_depends_on_regions(body, path, file, diagnostics),
        span=key_span,
        depends_on_spans=spans,
    )


def _foreach(
    body: dict[str, Any],
    path: DataPath,
    file: LoadedFile,
    named: dict[str, Binding],
    diagnostics: Diagnostics,
) -> Binding | None:
    keys = [key for key in ("ForeachAccount", "Foreach") if key in body]
    if not keys:
        return None
    if len(keys) == 2:
        diagnostics.add(
            "E358",
            "ForeachAccount and its old name Foreach are both given; remove Foreach",
            file.source_map.key_span(path + ("Foreach",)),
        )
    key = keys[0]
    where = path + (key,)
    binding = _binding_or_ref(body[key], where, file, named, diagnostics)
    if binding is not None and binding.regions_given and _named_ref(body[key]) is None:
        diagnostics.add(
            "W352",
            f"{key} loops over accounts only; remove its Region (the stacks' regions come from "
            "OrganizationBinding)",
            file.source_map.key_span(where + ("Region",)),
        )
    return binding


def _depends_on_accounts(
    body: dict[str, Any], path: DataPath, file: LoadedFile, diagnostics: Diagnostics
) -> tuple[tuple[str, ...], dict[str, Span]]:
    if "DependsOnAccount" not in body:
        return (), {}
    value = body["DependsOnAccount"]
    where = path + ("DependsOnAccount",)
    found: dict[str, None] = {}
    spans: dict[str, Span] = {}
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        at = where + (index,) if isinstance(value, list) else where
        name = _named_ref(item)
        if name is not None:
            found.setdefault(name)
            span = file.span(at + ("Ref",))
            if span is not None:
                spans.setdefault(name, span)
        elif isinstance(item, dict) and "Ref" in item and len(item) == 1:
            continue  # a !Ref of something other than a name: the loader reported it
        elif isinstance(item, str):
            diagnostics.add(
                "E359", f"DependsOnAccount takes refs: write !Ref {item}", file.span(at)
            )
        else:
            diagnostics.add(
                "E359",
                "DependsOnAccount takes !Ref of an account or a list of them",
                file.span(at),
            )
    return tuple(found), spans


def _depends_on_regions(
    body: dict[str, Any], path: DataPath, file: LoadedFile, diagnostics: Diagnostics
) -> tuple[str, ...]:
    if "DependsOnRegion" not in body:
        return ()
    value = body["DependsOnRegion"]
    regions = [value] if isinstance(value, str) else value
    if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
        diagnostics.add(
            "E359",
            "DependsOnRegion is a region name or a list of them",
            file.span(path + ("DependsOnRegion",)),
        )
        return ()
    return tuple(dict.fromkeys(regions))
