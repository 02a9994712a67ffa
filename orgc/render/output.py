"""Rendered stacks as files (`orgc render --out`): what CloudFormation would be given.

Each stack's template and parameters go to `<out>/<task>/<account>/<region>/` as
`template.json` and `parameters.json` (the `aws cloudformation --parameters file://` shape), and
`<out>/index.json` lists every stack with where it went and the references its parameters take.
Values known only after apply stay markers, as in the plan. A task, account or region name that
is not a single path segment would write elsewhere: it is refused (E118) before anything is
written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orgc.diagnostics import Diagnostics, Span, StageError
from orgc.render.model import RenderedStack


def write_stacks(
    stacks: Sequence[RenderedStack], out: Path, spans: Mapping[str, Span | None] | None = None
) -> None:
    """Write every stack of `stacks` under `out`, and the index of them all. `spans` places
    each task (by name) for a refusal; StageError (E118) when a name would leave `out`."""
    unsafe = Diagnostics()
    for stack in stacks:
        for segment in (stack.key.task, stack.key.account, stack.key.region):
            if segment in ("", ".", "..") or any(c in segment for c in "/\\\0"):
                unsafe.add(
                    "E118",
                    f"{segment!r} (of task {stack.key.task}) is not a single path segment, so "
                    f"its stacks would be written outside {out}; rename it",
                    (spans or {}).get(stack.key.task),
                )
    if unsafe.has_errors:
        raise StageError(unsafe.sorted())
    index = []
    for stack in stacks:
        directory = out / stack.key.task / stack.key.account / stack.key.region
        directory.mkdir(parents=True, exist_ok=True)
        _write_json(directory / "template.json", stack.template)
        _write_json(
            directory / "parameters.json",
            [
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in sorted(stack.parameters.items())
            ],
        )
        index.append(
            {
                "task": stack.key.task,
                "stackName": stack.stack_name,
                "account": stack.key.account,
                "accountId": stack.account_id,
                "region": stack.key.region,
                "path": str(directory.relative_to(out)),
                "references": [
                    {
                        "parameter": r.parameter,
                        "expression": r.expression,
                        "producer": str(r.producer) if r.producer else None,
                        "output": r.output,
                        "export": r.export,
                    }
                    for r in stack.references
                ],
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
