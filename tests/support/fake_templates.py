"""How the fake provider evaluates a deployed template: its outputs, exports, SSM parameters.

CloudFormation resolves a stack's outputs from its resources; the fake has no resources, so it
evaluates the intrinsic functions of what it needs (Outputs, the Name and Value of
AWS::SSM::Parameter resources, the names Ref and GetAtt lead to) with the values a deploy gives:
parameters (SSM-typed ones already read), pseudo parameters, conditions, mappings and the
exports of the account and region. `Ref` of a resource is the name its name property gives
(else a name made from the stack and logical id; an ARN for the types whose Ref is one),
`Fn::GetAtt X.Arn` an ARN of the resource's type, any other attribute `<physical id>.<attribute>`.
A function it does not evaluate fails the deploy rather than guessing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orgc.aws import AwsError

_NO_VALUE = object()  # what Ref AWS::NoValue evaluates to: the property is left out


def fake_error(operation: str, code: str, message: str) -> AwsError:
    """A failure as the real provider raises it."""
    return AwsError(code=code, operation=operation, message=message)


_error = fake_error


# --- evaluating a template's outputs ---------------------------------------------------------

# Resource types whose Ref is the name a property gives, and the ARN their GetAtt Arn gives
# ({name}: that name; {account}, {region}: where the stack is).
_NAMED: dict[str, tuple[str, str]] = {
    "AWS::S3::Bucket": ("BucketName", "arn:aws:s3:::{name}"),
    "AWS::IAM::Role": ("RoleName", "arn:aws:iam::{account}:role/{name}"),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "arn:aws:iam::{account}:policy/{name}"),
    "AWS::SSM::Parameter": ("Name", "arn:aws:ssm:{region}:{account}:parameter{name}"),
    "AWS::SNS::Topic": ("TopicName", "arn:aws:sns:{region}:{account}:{name}"),
    "AWS::SQS::Queue": ("QueueName", "arn:aws:sqs:{region}:{account}:{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{name}"),
    "AWS::KMS::Alias": ("AliasName", "arn:aws:kms:{region}:{account}:{name}"),
}
# Types whose Ref is their ARN rather than their name.
_REF_IS_ARN = frozenset({"AWS::IAM::ManagedPolicy", "AWS::SNS::Topic"})


@dataclass(slots=True, kw_only=True)
class DeployedTemplate:
    """One deployed template's values: what its outputs, exports and SSM parameters hold."""

    operation: str
    template: Mapping[str, Any]
    parameters: Mapping[str, Any]
    account_id: str
    region: str
    stack_name: str
    stack_id: str
    exports: Mapping[str, str]  # of the account and region, before this deploy
    imported: frozenset[str] = frozenset()
    _conditions: dict[str, bool] = field(default_factory=dict)

    def fail(self, message: str) -> AwsError:
        return _error(self.operation, "ValidationError", f"Template error: {message}")

    def resources(self) -> Mapping[str, Any]:
        return dict(self.template.get("Resources") or {})

    def exists(self, entry: Mapping[str, Any]) -> bool:
        condition = entry.get("Condition")
        return condition is None or self.condition(str(condition))

    def outputs(self) -> tuple[dict[str, str], dict[str, str]]:
        self.imported = frozenset(self._imports(self.template))
        outputs: dict[str, str] = {}
        exports: dict[str, str] = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            if not self.exists(output):
                continue
            value = _text(self.evaluate(output["Value"]))
            outputs[name] = value
            if "Export" in output:
                exports[_text(self.evaluate(output["Export"]["Name"]))] = value
        return outputs, exports

    def ssm_parameters(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for resource in self.resources().values():
            if resource.get("Type") == "AWS::SSM::Parameter" and self.exists(resource):
                properties = resource.get("Properties") or {}
                if "Name" not in properties:
                    continue  # a generated name nobody can look up
                found[_text(self.evaluate(properties["Name"]))] = _text(
                    self.evaluate(properties.get("Value", ""))
                )
        return found

    def _imports(self, value: Any) -> set[str]:
        if isinstance(value, dict):
            if set(value) == {"Fn::ImportValue"}:
                return {_text(self.evaluate(value))}
            return {name for item in value.values() for name in self._imports(item)}
        if isinstance(value, list):
            return {name for item in value for name in self._imports(item)}
        return set()

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise self.fail(f"unknown condition {name}")
            self._conditions[name] = bool(self.evaluate(conditions[name]))
        return self._conditions[name]

    def physical_id(self, logical_id: str) -> str:
        resource = self.resources()[logical_id]
        kind = str(resource.get("Type", ""))
        properties = resource.get("Properties") or {}
        named = _NAMED.get(kind)
        if named is not None and named[0] in properties:
            return _text(self.evaluate(properties[named[0]]))
        digest = hashlib.sha256(f"{self.stack_id}/{logical_id}".encode()).hexdigest()[:12]
        return f"{self.stack_name}-{logical_id}-{digest.upper()}"

    def arn(self, logical_id: str) -> str:
        kind = str(self.resources()[logical_id].get("Type", ""))
        name = self.physical_id(logical_id)
        named = _NAMED.get(kind)
        if named is not None:
            return named[1].format(name=name, account=self.account_id, region=self.region)
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "unknown"
        resource = kind.rpartition("::")[2].lower()
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}/{name}"

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resources = self.resources()
        if name in resources:
            if not self.exists(resources[name]):
                raise self.fail(f"Ref to {name}, which its condition leaves out")
            kind = str(resources[name].get("Type", ""))
            return self.arn(name) if kind in _REF_IS_ARN else self.physical_id(name)
        raise self.fail(f"Unresolved resource dependencies [{name}]")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources():
            raise self.fail(f"GetAtt of an unknown resource {logical_id}")
        if attribute == "Arn":
            return self.arn(logical_id)
        return f"{self.physical_id(logical_id)}.{attribute}"

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        out: list[str] = []
        rest = text
        while "${" in rest:
            before, _, after = rest.partition("${")
            out.append(before)
            if after.startswith("!"):  # ${!Literal} is the text ${Literal}
                name, _, rest = after[1:].partition("}")
                out.append("${" + name + "}")
                continue
            name, closed, rest = after.partition("}")
            if not closed:
                raise self.fail(f"unclosed ${{ in {text!r}")
            if name in variables:
                out.append(_text(variables[name]))
            elif "." in name:
                out.append(self.get_att(*name.split(".", 1)))
            else:
                out.append(_text(self.ref(name)))
        out.append(rest)
        return "".join(out)

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.evaluate(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            evaluated = {key: self.evaluate(item) for key, item in value.items()}
            return {key: item for key, item in evaluated.items() if item is not _NO_VALUE}
        [(key, argument)] = value.items()
        if key == "Ref":
            return self.ref(str(argument))
        if key == "Condition":
            return self.condition(str(argument))
        if key == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.get_att(str(parts[0]), _text(self.evaluate(parts[1])))
        if key == "Fn::Sub":
            if isinstance(argument, str):
                return self.sub(argument, {})
            text, variables = argument
            return self.sub(text, {k: self.evaluate(v) for k, v in variables.items()})
        if key == "Fn::Join":
            separator, items = argument
            return str(separator).join(_text(item) for item in self.evaluate(items))
        if key == "Fn::Select":
            index, items = self.evaluate(argument)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = self.evaluate(argument)
            return str(text).split(str(separator))
        if key == "Fn::If":
            name, then, otherwise = argument
            return self.evaluate(then if self.condition(str(name)) else otherwise)
        if key == "Fn::Equals":
            first, second = self.evaluate(argument)
            return _text(first) == _text(second)
        if key == "Fn::Not":
            return not self.evaluate(argument)[0]
        if key == "Fn::And":
            return all(self.evaluate(argument))
        if key == "Fn::Or":
            return any(self.evaluate(argument))
        if key == "Fn::FindInMap":
            mapping, first, second = (_text(part) for part in self.evaluate(argument))
            try:
                return self.template["Mappings"][mapping][first][second]
            except KeyError:
                raise self.fail(f"no {mapping}/{first}/{second} in the Mappings") from None
        if key == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if key == "Fn::Base64":
            return base64.b64encode(_text(self.evaluate(argument)).encode()).decode()
        if key == "Fn::ImportValue":
            name = _text(self.evaluate(argument))
            if name not in self.exports:
                raise _error(self.operation, "ValidationError", f"No export named {name} found")
            return self.exports[name]
        if key.startswith("Fn::"):
            raise self.fail(f"{key} is not evaluated by the fake provider")
        return {key: self.evaluate(argument)}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)
