"""A Flow with a gradual rollout, on an emulator that has no CodeDeploy (MiniStack).

Each executor function still publishes a version behind its alias, and the state machines
still invoke the aliases: only the traffic shift (``DeploymentPreference``) and CodeDeploy's
deployment config are left out, in a copy of the template written beside it, so that
relative code paths stay as they are. The deploy says so, once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from faasflow.deploy.template_file import read_template

logger = logging.getLogger("faasflow.deploy")
SUFFIX = ".no-codedeploy.yaml"
CODEDEPLOY_TYPES = frozenset({"AWS::CodeDeploy::DeploymentConfig", "AWS::CodeDeploy::Application",
                              "AWS::CodeDeploy::DeploymentGroup"})
NOTE = ("faasflow: note: the emulator has no CodeDeploy: {count} executor function(s) are deployed behind their "
        "alias, which the state machines invoke, without the gradual traffic shift and its alarm rollback "
        "(those run on AWS)")


def without_traffic_shifting(project: Path, template: str) -> str:
    """``template``, or a copy of it without CodeDeploy's parts when it has any; returns the
    template to deploy, relative to ``project``."""
    source = Path(project) / template
    data = read_template(source.read_text())
    resources = data.get("Resources") or {}
    shifted = [r for r in resources.values()
               if isinstance(r, dict) and "DeploymentPreference" in (r.get("Properties") or {})]
    codedeploy = [k for k, r in resources.items() if isinstance(r, dict) and r.get("Type") in CODEDEPLOY_TYPES]
    if not shifted and not codedeploy:
        return template
    for resource in shifted:
        del resource["Properties"]["DeploymentPreference"]
    for logical_id in codedeploy:
        del resources[logical_id]
    copy = source.with_name(source.name.removesuffix(".yaml").removesuffix(".yml") + SUFFIX)
    copy.write_text("# For an emulator without CodeDeploy (faasflow.deploy.no_codedeploy): aliases without "
                    "the traffic shift.\n" + yaml.safe_dump(data, sort_keys=False, width=120))
    logger.warning(NOTE.format(count=len(shifted)))
    return str(copy.relative_to(Path(project)))
