"""Reading a SAM template as data, as hand-written templates spell it: shared by the
deploy steps that look into one (package sizes, the emulator's copy without CodeDeploy)."""

from __future__ import annotations

from typing import Any


def read_template(text: str) -> dict[str, Any]:
    """A SAM/CloudFormation template as data, its short-form intrinsics (``!Ref X``,
    ``!Sub ...``) read as their long form (``{"Ref": "X"}``), as a hand-written template has them."""
    import yaml

    class TemplateLoader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}

    TemplateLoader.add_multi_constructor("!", intrinsic)
    data: dict[str, Any] = yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    return data
