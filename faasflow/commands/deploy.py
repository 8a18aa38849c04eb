"""``faasflow deploy flow.yml``: build, ``sam build``, ``sam deploy`` (AWS or an emulator)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

EMAIL = re.compile(r"[^@\s]+@[^@\s]+")  # the template's AlarmEmail pattern, checked before anything is built


def register(commands: argparse._SubParsersAction) -> None:
    from faasflow.compiler.layout import DEFAULT_TEMPLATE

    parser = commands.add_parser(
        "deploy", help="build the Flow and deploy it with sam (to AWS, or to --endpoint-url)",
        description="faasflow build, then sam build and sam deploy. With --endpoint-url the stack goes to a "
        "LocalStack-compatible emulator (dummy credentials); without it, to AWS with your credentials.")
    parser.add_argument("flow", help="the Flow YAML file")
    parser.add_argument("--out", default=".", help="the project folder (default: .)")
    parser.add_argument("--stack-name", help="CloudFormation stack name (default: the Flow's name)")
    parser.add_argument("--endpoint-url", help="an emulator's endpoint, e.g. http://127.0.0.1:4566")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE,
                        help="the SAM template's file name in the project (default: template.yaml)")
    parser.add_argument("--emulate-images", action="store_true",
                        help="with --endpoint-url of an emulator without Docker that runs handlers on this machine "
                        "(MiniStack): deploy each container-image function as a zip function standing in for it")
    parser.add_argument("--alarm-email", metavar="EMAIL",
                        help="subscribe this address to the Flow's alarm topic (SNS asks it to confirm)")
    parser.add_argument("--json", action="store_true", help="print the stack outputs as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from faasflow.commands.common import fail, load_flow, warn_if_open
    from faasflow.deploy.layers import write
    from faasflow.extras import needs

    with needs("faasflow deploy", "aws"):  # checked now: the stack's outputs are read with boto3
        from faasflow.deploy.sam import DeployError, deploy, stack_name_for
        from faasflow.deploy.tools import ToolsUnavailable

    flow = load_flow(args.flow)
    project = Path(args.out)
    if args.emulate_images and not args.endpoint_url:
        return fail("--emulate-images needs --endpoint-url: it stands in for images on an emulator, not on AWS")
    if args.alarm_email is not None and not flow.plan.monitoring:
        return fail("--alarm-email needs the Flow's alarms, and it has monitoring: false")
    if args.alarm_email is not None and not EMAIL.fullmatch(args.alarm_email):
        return fail(f"--alarm-email must be an email address, got {args.alarm_email!r}")
    warn_if_open(flow, to_aws=not args.endpoint_url)  # an emulator on this machine is not exposed
    write(flow.plan, project, args.template)
    stack = args.stack_name or stack_name_for(flow.name)
    try:
        outputs = deploy(project, stack, endpoint_url=args.endpoint_url, region=args.region, template=args.template,
                         emulate_images=args.emulate_images, echo=not args.json,
                         parameters={"AlarmEmail": args.alarm_email} if args.alarm_email else None)
    except (DeployError, ToolsUnavailable, FileNotFoundError) as exc:  # a missing model: `make model`
        return fail(str(exc))
    if args.json:
        print(json.dumps(outputs, indent=2))
    else:
        url = outputs.get("ApiUrlLocal") or outputs.get("ApiUrl")
        print(f"deployed stack {stack!r}; the Flow answers at {url}")
        signed = " --auth iam" if flow.plan.auth == "iam" else " --api-key KEY" if flow.plan.auth == "api_key" else ""
        print(f"  try: faasflow ping {url}{signed}")
    return 0
