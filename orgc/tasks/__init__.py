"""Stage 3 (model), task files: the tasks of an OrgFormation task file tree, checked and typed.

A task file maps task names to tasks (`update-organization`, `update-stacks`, `include`,
`copy-to-s3`, and tool chains orgc does not run). Includes are flattened: a child task is named
`<Include>-<Task>` and its `DependsOn` names are qualified the same way. Task-file expressions
(`!Ref` of a parameter, `!Sub`, `!Join`, `!Select`, `!FindInMap`) are evaluated here once their
arguments are known; expressions that need a target (`!GetAtt CurrentAccount.X`, `!CopyValue`,
`!Ref` of an account) are kept for the render stage.

`load_project` is the entry point. It reports every mistake to the diagnostics collector and
returns whatever could be built.

The stage is a package, by concern: `model` (the dataclasses and the registry of task types),
`parameters` (one file's parameters, bindings and mappings), `attributes` (one task's
attributes), `task_types` (a task of each type), `tree` (`load_project`, includes and the tree
walk) and `dependencies` (DependsOn and its cycles). This module is its public face.
"""

from orgc.tasks.model import (
    COMMON_ATTRIBUTES,
    ORGANIZATION_TASK_NAME,
    RESERVED_KEYS,
    TASK_TYPES,
    CopyToS3Task,
    ExternalTask,
    Include,
    OrganizationTask,
    Project,
    StacksTask,
    Task,
    TaskType,
)
from orgc.tasks.parameters import PARAMETER_TYPES
from orgc.tasks.tree import load_project

__all__ = [
    "COMMON_ATTRIBUTES",
    "ORGANIZATION_TASK_NAME",
    "PARAMETER_TYPES",
    "RESERVED_KEYS",
    "TASK_TYPES",
    "CopyToS3Task",
    "ExternalTask",
    "Include",
    "OrganizationTask",
    "Project",
    "StacksTask",
    "Task",
    "TaskType",
    "load_project",
]
