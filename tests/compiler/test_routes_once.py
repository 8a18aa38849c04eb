"""A build plans its routes once: the template and both state machines share them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from faasflow import Flow
from faasflow.compiler import routes
from faasflow.compiler.artefacts import artefacts
from faasflow.compiler.asl import compile_asl
from faasflow.compiler.batch_asl import compile_batch_asl
from faasflow.compiler.routes import Route, plan_routes
from faasflow.plan import Plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts plan_routes calls, wherever it was imported."""
    seen: list[str] = []
    original = routes.plan_routes

    def counted(plan: Plan) -> list[Route]:
        seen.append(plan.name)
        return original(plan)

    for name, module in list(sys.modules.items()):
        if name.startswith("faasflow") and getattr(module, "plan_routes", None) is original:
            monkeypatch.setattr(module, "plan_routes", counted)
    return seen


def reference() -> Flow:
    return Flow.load_config(ROOT / "orchestrator" / "flow.yml")


def test_artefacts_plans_routes_once(calls: list[str]):
    artefacts(reference().plan, ROOT)
    assert calls == ["sharded-search"]


def test_semantic_flow_with_an_image_plans_routes_once(calls: list[str]):
    artefacts(Flow.load_config(ROOT / "orchestrator" / "semantic.yml").plan, ROOT, "template.semantic.yaml")
    assert len(calls) == 1


def test_given_routes_compile_the_same():
    plan = reference().plan
    planned = plan_routes(plan)
    assert json.dumps(compile_asl(plan, planned)) == json.dumps(compile_asl(plan))
    assert json.dumps(compile_batch_asl(plan, routes=planned)) == json.dumps(compile_batch_asl(plan))
