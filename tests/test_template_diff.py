"""The template diff of a stack update: resources by logical id, sections, a bounded diff."""

from __future__ import annotations

from collections.abc import Mapping

from orgc.plan.specs import Json, ResourceChange
from orgc.plan.template_diff import parse_template, template_changes

BEFORE: Mapping[str, Json] = {
    "Resources": {
        "Kept": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "a"}},
        "Changed": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "one"}},
        "Gone": {"Type": "AWS::SQS::Queue"},
    },
    "Outputs": {"Name": {"Value": "x"}},
}
AFTER: Mapping[str, Json] = {
    "Resources": {
        "Kept": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "a"}},
        "Changed": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "two"}},
        "New": {"Type": "AWS::SNS::Topic"},
    },
    "Outputs": {"Name": {"Value": "y"}},
}


def test_resources_are_named_by_what_happens_to_them_and_only_changes_are_diffed() -> None:
    changes = template_changes(BEFORE, AFTER)
    assert changes is not None
    assert changes.resources == (
        ResourceChange(logical_id="Changed", resource_type="AWS::S3::Bucket", change="modified"),
        ResourceChange(logical_id="Gone", resource_type="AWS::SQS::Queue", change="removed"),
        ResourceChange(logical_id="New", resource_type="AWS::SNS::Topic", change="added"),
    )
    assert changes.sections == ("Outputs",)
    assert '-    "BucketName": "one"' in changes.diff
    assert '+    "BucketName": "two"' in changes.diff
    assert not any("Kept" in line for line in changes.diff)
    assert changes.lines_cut == 0


def test_the_diff_is_cut_at_its_bound_and_says_how_much_is_left_out() -> None:
    full = template_changes(BEFORE, AFTER)
    cut = template_changes(BEFORE, AFTER, limit=5)
    assert full is not None
    assert cut is not None
    assert cut.diff == full.diff[:5]
    assert cut.lines_cut == len(full.diff) - 5
    assert cut.resources == full.resources


def test_the_same_template_has_no_changes_and_yaml_is_not_parsed_as_json() -> None:
    assert template_changes(BEFORE, BEFORE) is None
    assert parse_template("Resources:\n  A: {Type: X}\n") is None
    assert parse_template('{"Resources": {}}') == {"Resources": {}}
