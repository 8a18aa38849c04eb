"""CloudFormation intrinsic functions, long form, as typed data.

The template is plain data (no YAML tags such as ``!Ref``), so every intrinsic is a one-key
mapping; building them here keeps their spelling in one place and lets the type checker
tell a reference from a string.
"""

from __future__ import annotations

from typing import TypedDict


class Ref(TypedDict):
    Ref: str


# "Fn::..." is no identifier: these keys need the functional syntax
GetAtt = TypedDict("GetAtt", {"Fn::GetAtt": list[str]})
Sub = TypedDict("Sub", {"Fn::Sub": str})
Equals = TypedDict("Equals", {"Fn::Equals": list[object]})
Not = TypedDict("Not", {"Fn::Not": list[Equals]})
Intrinsic = Ref | GetAtt | Sub


def ref(logical_id: str) -> Ref:
    """A resource's (or parameter's) value: an ARN, a name or an id, as the type defines it."""
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> GetAtt:
    """One attribute of a resource: ``get_att("DbFunction", "Arn")``."""
    return {"Fn::GetAtt": [logical_id, attribute]}


def equals(left: object, right: object) -> Equals:
    """A condition: whether two values (a parameter's and a literal, say) are equal."""
    return {"Fn::Equals": [left, right]}


def not_(condition: Equals) -> Not:
    """A condition's negation."""
    return {"Fn::Not": [condition]}


def sub(text: str) -> Sub:
    """Text with ``${...}`` placeholders (pseudo parameters, logical ids) filled in at deploy time."""
    return {"Fn::Sub": text}
