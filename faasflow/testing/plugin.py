"""faasflow's pytest plugin: test a faasflow project against an AWS emulator, or AWS.

Loaded by every pytest run where faasflow is installed (the ``pytest11`` entry point), so
this module imports nothing heavy; the fixtures import what they need when first used, and
fail with one line naming the extra when it is missing (``pip install 'faasflow[testing]'``).

Fixtures (all session-scoped):

``faasflow_emulator``
    Where the tests deploy to. By default a MiniStack emulator (no Docker) started for the
    session on the Python of the project Flow's runtime, and reset at the start of every
    test module that uses it, so each module starts from an empty emulator. Skipped, with
    the reason, when the emulator's tool environments cannot be created. It has ``kind``
    (``ministack``, ``endpoint``, ``localstack`` or ``aws``), ``endpoint_url``, ``region``,
    ``client(service)``, ``environ()`` and ``reset()`` (refused where the session did not
    start the emulator).
``deployed_flow``
    The project's Flow, built and deployed with the SAM CLI once per session, as a
    ``faasflow.Client`` bound to its API (``deployed_flow.post('/search', docs)``), with
    ``outputs``, ``stack_name``, ``bucket``, ``state_machine_arn``,
    ``batch_state_machine_arn``, ``function_names``, ``flow`` (the same Flow, embedded, not
    started), ``emulator`` and ``index_file(path)`` (batch indexing through the bucket).
    After a reset the stack is gone; it is deployed again, from the same (cached) build,
    when the Flow is next used, so each module finds it deployed and empty.
``localstack``
    pytest-localstack's session object on the same endpoint (``localstack.boto3.client``,
    ``localstack.botocore.patch_botocore()``); skipped with ``--faasflow-aws``.
``faasflow_deployments``
    What ``deployed_flow`` draws from: ``faasflow_deployments.get(path)`` deploys any Flow
    file of the project once per session (for a session fixture that needs two Flows).

Options: ``--faasflow-endpoint URL`` (or ``FAASFLOW_TEST_ENDPOINT``) uses a running
LocalStack-compatible emulator instead, never reset; ``--faasflow-aws`` deploys to AWS with
the ambient credentials (region ``--faasflow-region``, else ``AWS_REGION``/
``AWS_DEFAULT_REGION``, else us-east-1) and deletes the stacks it made when the session
ends; ``--faasflow-localstack-docker`` runs LocalStack in Docker through pytest-localstack
(``--faasflow-localstack-version``; versions after 4.14 need ``LOCALSTACK_AUTH_TOKEN``).

ini settings: ``faasflow_flow`` (the Flow file, default ``orchestrator/flow.yml``, relative
to the ini file's folder), ``faasflow_reset`` (``module``, the default, or ``session``:
never reset), ``faasflow_localstack_docker`` (as the option).

Marker: ``@pytest.mark.faasflow_flow("path/to/flow.yml")`` on a test, class or module makes
its ``deployed_flow`` that Flow (deployed once per session per file; the path is relative
to the ini file's folder). Marked tests get the file's name in their id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from faasflow.testing.settings import (
    DEFAULT_FLOW,
    FLOW_MARKER,
    KIND_AWS,
    KIND_ENDPOINT,
    KIND_LOCALSTACK,
    KIND_MINISTACK,
    Settings,
    SettingsError,
)

if TYPE_CHECKING:
    from faasflow.testing.deployed import DeployedFlow, Deployments
    from faasflow.testing.emulators import Emulator

# A module "uses the emulator" when one of its tests needs one of these, directly or not.
EMULATOR_FIXTURES = frozenset({"faasflow_emulator", "faasflow_deployments", "deployed_flow", "localstack"})


class PluginState:
    """The session's choices and what the fixtures started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.emulator: Emulator | None = None
        self.served_module: str | None = None  # the test module the emulator's contents belong to
        self.module_uses: dict[str, bool] | None = None


STATE = pytest.StashKey[PluginState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faasflow", "faasflow: deploy the project's Flow for its tests")
    group.addoption("--faasflow-endpoint", dest="faasflow_endpoint", metavar="URL", default=None,
                    help="use the LocalStack-compatible emulator running at URL (not started, not reset); "
                    "default: $FAASFLOW_TEST_ENDPOINT, else a MiniStack started for the session")
    group.addoption("--faasflow-aws", dest="faasflow_aws", action="store_true", default=False,
                    help="deploy to real AWS with the ambient credentials; the stacks are deleted at the end")
    group.addoption("--faasflow-region", dest="faasflow_region", metavar="REGION", default=None,
                    help="the region for --faasflow-aws and --faasflow-endpoint "
                    "(default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)")
    group.addoption("--faasflow-localstack-docker", dest="faasflow_localstack_docker", action="store_true",
                    default=False, help="run LocalStack in Docker through pytest-localstack instead of MiniStack")
    group.addoption("--faasflow-localstack-version", dest="faasflow_localstack_version", metavar="VERSION",
                    default=None, help="the LocalStack image version for --faasflow-localstack-docker "
                    "(default: pytest-localstack's; after 4.14 LOCALSTACK_AUTH_TOKEN is needed)")
    parser.addini("faasflow_flow", f"faasflow: the Flow file deployed_flow deploys (default {DEFAULT_FLOW})",
                  default=DEFAULT_FLOW)
    parser.addini("faasflow_reset", "faasflow: reset the session's emulator for each test 'module' (default) "
                  "or never ('session')", default="module")
    parser.addini("faasflow_localstack_docker", "faasflow: as --faasflow-localstack-docker", type="bool",
                  default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{FLOW_MARKER}(path): deployed_flow deploys this Flow file for the "
                            "marked tests (relative to the ini file's folder)")
    try:
        config.stash[STATE] = PluginState(Settings.from_config(config))
    except SettingsError as exc:
        raise pytest.UsageError(f"faasflow: {exc}") from None


def flow_marker_path(marker: pytest.Mark) -> str:
    """The one path argument of a ``faasflow_flow`` marker."""
    path = marker.args[0] if len(marker.args) == 1 and not marker.kwargs else marker.kwargs.get("path")
    if not isinstance(path, str | Path) or not str(path):
        raise pytest.UsageError(f"@pytest.mark.{FLOW_MARKER} takes one Flow file path, got {marker.args!r}")
    return str(path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A marked test's ``deployed_flow`` is its marker's Flow: the path goes in as the
    fixture's parameter (scope module, so the session's deployment cache does the rest)."""
    if "deployed_flow" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(FLOW_MARKER)
    if marker is None:
        return
    path = flow_marker_path(marker)
    metafunc.parametrize("deployed_flow", [path], indirect=True, ids=[Path(path).stem], scope="module")


def _state(config: pytest.Config) -> PluginState:
    return config.stash[STATE]


def _require_testing_extra(fixture: str) -> None:
    from faasflow.extras import MissingExtra, require

    try:
        require(f"faasflow's {fixture} fixture", "testing")
    except MissingExtra as exc:
        missing = str(exc)
    else:
        return
    pytest.fail(missing, pytrace=False)  # outside the except: no chained traceback, just the line


def _flow_runtime(flow_file: Path) -> str:
    """The Lambda runtime a Flow file asks for, read without importing its executors; the
    default when the file cannot be read (``deployed_flow`` reports that, if asked)."""
    from faasflow.runtimes import DEFAULT_RUNTIME, check_runtime

    try:
        from faasflow.flow_yaml import read_flow_config

        return check_runtime(read_flow_config(flow_file).options.get("runtime") or DEFAULT_RUNTIME)
    except Exception:  # noqa: BLE001
        return DEFAULT_RUNTIME


def _start_ministack(runtime: str, log_dir: Path) -> Emulator:
    from faasflow.deploy.tools import ToolsUnavailable, ensure_tools
    from faasflow.testing.emulators import MiniStackEmulator
    from faasflow.testing.ministack import MiniStack, MiniStackError

    try:
        ensure_tools(runtime)
    except ToolsUnavailable as exc:
        unavailable = str(exc)
    else:
        unavailable = ""
    if unavailable:
        pytest.skip(f"faasflow_emulator: the SAM CLI and MiniStack ({runtime}) environments cannot be created "
                    f"here: {unavailable}")
    ministack = MiniStack(runtime=runtime, log_dir=log_dir)
    try:
        ministack.start()
        return MiniStackEmulator(ministack)
    except MiniStackError as exc:
        failure = str(exc)
    ministack.stop()
    pytest.fail(f"faasflow_emulator: MiniStack did not start: {failure}", pytrace=False)


def _start_localstack_container(settings: Settings, config: pytest.Config) -> Emulator:
    from faasflow.testing.emulators import LocalStackContainer
    from faasflow.testing.localstack_session import LocalStackUnavailable, container_endpoint, start_container

    timeout_s = float(config.getoption("localstack_start_timeout", default=60) or 60)
    try:
        session = start_container(settings.localstack_version, settings.region, timeout_s)
        return LocalStackContainer(session, container_endpoint(session), settings.region)
    except LocalStackUnavailable as exc:
        reason = str(exc)
    pytest.skip(reason)


def open_emulator(settings: Settings, config: pytest.Config, log_dir: Path) -> Emulator:
    """Start (or attach to) what ``settings`` names."""
    from faasflow.testing.emulators import EndpointEmulator, RealAws

    if settings.kind == KIND_AWS:
        return RealAws(settings.region)
    if settings.kind == KIND_ENDPOINT:
        assert settings.endpoint_url is not None
        return EndpointEmulator(settings.endpoint_url, settings.region)
    if settings.kind == KIND_LOCALSTACK:
        return _start_localstack_container(settings, config)
    return _start_ministack(_flow_runtime(settings.resolve_flow()), log_dir)


@pytest.fixture(scope="session")
def faasflow_emulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Where the session's tests deploy to: MiniStack started for the session (reset for
    each test module), ``--faasflow-endpoint``'s emulator, LocalStack in Docker, or AWS."""
    _require_testing_extra("faasflow_emulator")
    state = _state(request.config)
    emulator = open_emulator(state.settings, request.config, tmp_path_factory.mktemp("faasflow-emulator"))
    state.emulator = emulator
    try:
        yield emulator
    finally:
        state.emulator = None
        emulator.close()


@pytest.fixture(scope="session")
def faasflow_deployments(request: pytest.FixtureRequest, faasflow_emulator: Emulator) -> Iterator[Deployments]:
    """The session's deployed Flows, one per Flow file; with ``--faasflow-aws`` the stacks
    are deleted when the session ends, also after failed tests."""
    _require_testing_extra("deployed_flow")
    from faasflow.testing.deployed import Deployments

    settings = _state(request.config).settings
    deployments = Deployments(faasflow_emulator, settings.base_dir, settings.resolve_flow())
    yield deployments
    problems = deployments.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def deployed_flow(request: pytest.FixtureRequest, faasflow_deployments: Deployments) -> DeployedFlow:
    """The project's Flow (``faasflow_flow`` ini setting or marker), deployed with the SAM
    CLI once per session, as a ``faasflow.Client`` on its API. The stack lives for the
    session; after an emulator reset it is deployed again, from the cached build, when the
    Flow is next used."""
    _require_testing_extra("deployed_flow")
    from faasflow.deploy.tools import ToolsUnavailable
    from faasflow.testing.deployed import DeploymentError

    flow_file = _state(request.config).settings.resolve_flow(getattr(request, "param", None))
    try:
        return faasflow_deployments.get(flow_file)
    except DeploymentError as exc:
        failure = str(exc)
    except ToolsUnavailable as exc:
        pytest.skip(f"deployed_flow: the SAM CLI or the runtime's Python is not available here: {exc}")
    pytest.fail(failure, pytrace=False)  # outside the except: the report, without a chained traceback


@pytest.fixture(scope="session")
def localstack(faasflow_emulator: Emulator) -> Iterator[Any]:
    """pytest-localstack's session object on the session's emulator (or its LocalStack
    container): ``localstack.boto3.client('s3')``, ``localstack.botocore.patch_botocore()``."""
    _require_testing_extra("localstack")
    if faasflow_emulator.kind == KIND_AWS:
        pytest.skip("the localstack fixture is for an emulator: with --faasflow-aws the tests talk to real AWS")
    if faasflow_emulator.localstack_session is not None:
        yield faasflow_emulator.localstack_session
        return
    from pytest_localstack.exceptions import TimeoutError as LocalstackTimeout

    from faasflow.testing.localstack_session import MINISTACK_SERVICES, LocalStackUnavailable, attach

    assert faasflow_emulator.endpoint_url is not None
    known = MINISTACK_SERVICES if faasflow_emulator.kind == KIND_MINISTACK else None
    try:
        session = attach(faasflow_emulator.endpoint_url, faasflow_emulator.region, known)
    except (LocalStackUnavailable, LocalstackTimeout) as exc:
        failure = f"localstack: {exc}"
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield session
    finally:
        session.stop()


def _module_uses_emulator(request: pytest.FixtureRequest, state: PluginState) -> bool:
    if state.module_uses is None:
        uses: dict[str, bool] = {}
        for item in request.session.items:
            module = item.getparent(pytest.Module)
            if module is not None:
                needed = bool(EMULATOR_FIXTURES.intersection(getattr(item, "fixturenames", ())))
                uses[module.nodeid] = uses.get(module.nodeid, False) or needed
        state.module_uses = uses
    return state.module_uses.get(request.node.nodeid, False)


@pytest.fixture(autouse=True, scope="module")
def _faasflow_reset_between_modules(request: pytest.FixtureRequest) -> None:
    """Each test module that uses the emulator starts from an empty one (``faasflow_reset =
    module``): reset when the emulator last served another module. Only the MiniStack this
    session started is reset; deployed Flows come back on their next use."""
    state = request.config.stash.get(STATE, None)
    if state is None or state.settings.reset != "module" or not _module_uses_emulator(request, state):
        return
    module = request.node.nodeid
    emulator = state.emulator
    if emulator is not None and emulator.resettable and state.served_module not in (None, module):
        emulator.reset()
    state.served_module = module
