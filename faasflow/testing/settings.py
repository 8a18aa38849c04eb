"""What the pytest plugin's options and ini settings ask for, read once per session.

Kept apart from the fixtures so the choice (which emulator, which Flow, when to reset) is a
plain value: checked when pytest starts, so a contradiction is a usage error before any
test runs, and testable without starting anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENDPOINT_ENV = "FAASFLOW_TEST_ENDPOINT"
DEFAULT_FLOW = "orchestrator/flow.yml"
DEFAULT_REGION = "us-east-1"
RESET_MODES = ("module", "session")
FLOW_MARKER = "faasflow_flow"

KIND_MINISTACK = "ministack"
KIND_ENDPOINT = "endpoint"
KIND_LOCALSTACK = "localstack"
KIND_AWS = "aws"


class SettingsError(ValueError):
    """The options contradict each other or an ini value is not one of its choices."""


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """The session's choices: ``kind`` says what the tests talk to."""

    kind: str
    endpoint_url: str | None
    region: str
    reset: str  # 'module': an empty emulator for each test module; 'session': never reset
    flow: str  # the default Flow file, relative to base_dir unless absolute
    base_dir: Path  # the ini file's folder (pytest's rootdir without one)
    localstack_version: str | None  # None: pytest-localstack's pinned version

    def resolve_flow(self, path: str | os.PathLike[str] | None = None) -> Path:
        """An absolute Flow path: ``path`` (a marker's) or the default, relative to ``base_dir``."""
        chosen = Path(path if path is not None else self.flow).expanduser()
        return (chosen if chosen.is_absolute() else self.base_dir / chosen).resolve()

    @classmethod
    def from_values(
        cls,
        *,
        endpoint: str | None = None,
        aws: bool = False,
        region: str | None = None,
        reset: str = "module",
        flow: str | None = None,
        base_dir: Path | None = None,
        localstack_docker: bool = False,
        localstack_version: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Settings from option values; the environment fills in what options leave open
        (an explicit option beats ``FAASFLOW_TEST_ENDPOINT``)."""
        env = os.environ if environ is None else environ
        reset = (reset or "module").strip().lower()
        if reset not in RESET_MODES:
            raise SettingsError(f"faasflow_reset must be one of {', '.join(RESET_MODES)}, got {reset!r}")
        chosen = [name for name, given in (("--faasflow-endpoint", bool(endpoint)), ("--faasflow-aws", aws),
                                           ("--faasflow-localstack-docker", localstack_docker)) if given]
        if len(chosen) > 1:
            raise SettingsError(f"{' and '.join(chosen)} exclude each other: choose one place for the tests to "
                                "deploy to")
        if localstack_version and not localstack_docker:
            raise SettingsError("--faasflow-localstack-version is for --faasflow-localstack-docker")
        if not chosen and env.get(ENDPOINT_ENV):
            endpoint = env[ENDPOINT_ENV]
        if endpoint and "://" not in endpoint:
            raise SettingsError(f"the emulator endpoint must be a URL such as http://127.0.0.1:4566, got {endpoint!r}")
        if aws:
            kind = KIND_AWS
        elif localstack_docker:
            kind = KIND_LOCALSTACK
        elif endpoint:
            kind = KIND_ENDPOINT
        else:
            kind = KIND_MINISTACK
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        return cls(
            kind=kind,
            endpoint_url=endpoint.rstrip("/") if kind == KIND_ENDPOINT and endpoint else None,
            region=region,
            reset=reset,
            flow=flow or DEFAULT_FLOW,
            base_dir=(base_dir or Path.cwd()).resolve(),
            localstack_version=localstack_version or None,
        )

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """Settings from a pytest ``Config`` (command line and ini file)."""
        base_dir = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
        return cls.from_values(
            endpoint=config.getoption("faasflow_endpoint"),
            aws=bool(config.getoption("faasflow_aws")),
            region=config.getoption("faasflow_region"),
            reset=str(config.getini("faasflow_reset")),
            flow=str(config.getini("faasflow_flow") or "") or None,
            base_dir=base_dir,
            localstack_docker=bool(config.getoption("faasflow_localstack_docker"))
            or _truthy(config.getini("faasflow_localstack_docker")),
            localstack_version=config.getoption("faasflow_localstack_version"),
        )
