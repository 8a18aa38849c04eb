"""CloudFormation intrinsics: one spelling, built in one module."""

from __future__ import annotations

import re
from pathlib import Path

from faasflow.compiler.intrinsics import get_att, ref, sub

COMPILER = Path(__file__).resolve().parents[2] / "faasflow" / "compiler"


def test_long_form_intrinsics():
    assert ref("FlowApi") == {"Ref": "FlowApi"}
    assert get_att("DbFunction", "Arn") == {"Fn::GetAtt": ["DbFunction", "Arn"]}
    assert sub("s3://${AWS::StackName}/state/") == {"Fn::Sub": "s3://${AWS::StackName}/state/"}


def test_each_call_builds_a_fresh_value():
    first, second = get_att("DbFunction", "Arn"), get_att("DbFunction", "Arn")
    first["Fn::GetAtt"].append("changed")
    assert second == {"Fn::GetAtt": ["DbFunction", "Arn"]}


def test_the_compiler_writes_no_intrinsic_by_hand():
    literal = re.compile(r"""\{\s*["'](Ref|Fn::\w+)["']\s*:""")
    written = [
        f"{path.name}:{number}"
        for path in sorted(COMPILER.glob("*.py"))
        if path.name != "intrinsics.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert written == []
