"""The plugin's options, its refusals and its failure messages: nothing here deploys.

Where a fixture must fail before anything is started, a user's run is made against an
endpoint nothing listens on (the Flow is loaded, and refused, before it is contacted).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faasflow.testing.localstack_session import needs_auth_token
from faasflow.testing.settings import Settings, SettingsError

pytest_plugins = ["pytester"]

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers there


# --- settings -----------------------------------------------------------------------------


def test_by_default_a_ministack_is_started_and_reset_per_module(tmp_path: Path):
    settings = Settings.from_values(base_dir=tmp_path, environ={})
    assert (settings.kind, settings.endpoint_url, settings.region, settings.reset) == (
        "ministack", None, "us-east-1", "module")
    assert settings.resolve_flow() == tmp_path / "orchestrator" / "flow.yml"
    assert settings.resolve_flow("flows/other.yml") == tmp_path / "flows" / "other.yml"
    assert settings.resolve_flow("/abs/flow.yml") == Path("/abs/flow.yml")


def test_the_endpoint_comes_from_the_option_or_the_environment():
    env = {"FAASFLOW_TEST_ENDPOINT": "http://127.0.0.1:4566/", "AWS_DEFAULT_REGION": "eu-west-1"}
    settings = Settings.from_values(environ=env)
    assert (settings.kind, settings.endpoint_url, settings.region) == ("endpoint", "http://127.0.0.1:4566", "eu-west-1")
    given = Settings.from_values(endpoint="http://localhost:4567", region="us-west-2", environ=env)
    assert (given.endpoint_url, given.region) == ("http://localhost:4567", "us-west-2")
    # an explicit --faasflow-aws beats the environment's endpoint
    assert Settings.from_values(aws=True, environ=env).kind == "aws"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"endpoint": "http://x:1", "aws": True}, "--faasflow-endpoint and --faasflow-aws exclude each other"),
        ({"aws": True, "localstack_docker": True}, "--faasflow-aws and --faasflow-localstack-docker exclude"),
        ({"reset": "sometimes"}, "faasflow_reset must be one of module, session, got 'sometimes'"),
        ({"localstack_version": "4.14"}, "--faasflow-localstack-version is for --faasflow-localstack-docker"),
        ({"endpoint": "127.0.0.1:4566"}, "must be a URL such as http://127.0.0.1:4566"),
    ],
)
def test_contradictions_are_refused_by_name(values: dict, message: str):
    with pytest.raises(SettingsError, match=message):
        Settings.from_values(environ={}, **values)


@pytest.mark.parametrize(
    ("version", "needed"),
    [("4.14", False), ("4.14.1", False), ("3.8", False), ("4.15", True), ("2026.03.0", True), ("latest", True)],
)
def test_localstack_images_after_4_14_need_an_auth_token(version: str, needed: bool):
    assert needs_auth_token(version) is needed


# --- a user's run -------------------------------------------------------------------------


def test_contradicting_options_are_a_usage_error(run_pytest, pytester: pytest.Pytester):
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = run_pytest("--faasflow-aws", "--faasflow-endpoint", NOWHERE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*faasflow: --faasflow-endpoint and --faasflow-aws exclude each other*"])
    result = run_pytest("-o", "faasflow_reset=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*faasflow_reset must be one of module, session, got 'sometimes'*"])


def test_the_plugin_is_registered_with_its_options_and_marker(run_pytest, pytester: pytest.Pytester):
    result = run_pytest("--help")
    result.stdout.fnmatch_lines(["*--faasflow-endpoint=URL*", "*--faasflow-aws*", "*--faasflow-localstack-docker*",
                                 "*faasflow_flow *", "*faasflow_reset *"])
    assert run_pytest("--markers").stdout.str().count("@pytest.mark.faasflow_flow(path)") == 1


def test_without_the_testing_extra_a_fixture_fails_with_one_line(run_pytest, pytester: pytest.Pytester):
    pytester.makeconftest("import sys\nsys.modules['pytest_localstack'] = None  # as if not installed\n")
    pytester.makepyfile(test_user="""
        def test_plain():
            pass

        def test_emulator(faasflow_emulator):
            pass

        def test_deployed(deployed_flow):
            pass
    """)
    result = run_pytest("-p", "no:localstack", "-rf")
    result.assert_outcomes(passed=1, errors=2)
    line = "faasflow's faasflow_emulator fixture needs the 'testing' extra: pip install 'faasflow[testing]'"
    result.stdout.fnmatch_lines([line, line])  # both tests: the line, alone
    assert "Traceback" not in result.stdout.str() and "sys.modules" not in result.stdout.str()


def test_a_missing_flow_file_is_one_line_naming_it(run_pytest, pytester: pytest.Pytester, project_files: dict):
    files = {path: text for path, text in project_files.items() if path != "orchestrator/flow.yml"}
    for path, text in files.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(text)
    pytester.makepyfile(test_user="""
        import pytest

        def test_default(deployed_flow):
            pass

        @pytest.mark.faasflow_flow("flows/nope.yml")
        def test_marked(deployed_flow):
            pass
    """)
    result = run_pytest("--faasflow-endpoint", NOWHERE)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"{pytester.path / 'orchestrator' / 'flow.yml'}: no such Flow file",
                                 f"{pytester.path / 'flows' / 'nope.yml'}: no such Flow file"])
    assert "Traceback" not in result.stdout.str()


def test_a_flow_that_does_not_load_is_one_line_naming_it(run_pytest, pytester: pytest.Pytester,
                                                         project_files: dict):
    for path, text in project_files.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(text)
    (pytester.path / "orchestrator" / "flow.yml").write_text(
        "jtype: Flow\nwith:\n  name: broken\nexecutors:\n  - name: gone\n    uses: functions.nope.Missing\n")
    pytester.makepyfile(test_user="def test_it(deployed_flow):\n    pass\n")
    result = run_pytest("--faasflow-endpoint", NOWHERE)
    result.assert_outcomes(errors=1)
    flow_file = pytester.path / "orchestrator" / "flow.yml"
    result.stdout.fnmatch_lines(["*ERROR at setup of test_it*",
                                 f"{flow_file}: executor 'gone', field 'uses': cannot find executor "
                                 "'functions.nope.Missing'*",
                                 "*short test summary info*"])


def test_a_bad_marker_is_a_collection_error(run_pytest, pytester: pytest.Pytester):
    pytester.makepyfile(test_user="""
        import pytest

        @pytest.mark.faasflow_flow()
        def test_it(deployed_flow):
            pass
    """)
    result = run_pytest("--faasflow-endpoint", NOWHERE)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*@pytest.mark.faasflow_flow takes one Flow file path, got ()*"])


def test_localstack_in_docker_is_skipped_saying_why(run_pytest, pytester: pytest.Pytester):
    pytester.makepyfile(test_user="""
        def test_emulator(faasflow_emulator):
            pass

        def test_localstack(localstack):
            pass
    """)
    no_docker = {"DOCKER_HOST": f"unix://{pytester.path}/no-docker.sock"}  # nowhere, whatever this machine has
    result = run_pytest("--faasflow-localstack-docker", "-rs", env=no_docker)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED*--faasflow-localstack-docker cannot start LocalStack: Docker is not "
                                 "reachable*"])
    result = run_pytest("--faasflow-localstack-docker", "--faasflow-localstack-version", "2026.03.0", "-rs",
                        env=no_docker)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED*LocalStack 2026.03.0 needs LOCALSTACK_AUTH_TOKEN (images after 4.14 "
                                 "require an auth token*), and it is not set; Docker is not reachable*"])


def test_the_localstack_fixture_is_skipped_on_aws(run_pytest, pytester: pytest.Pytester):
    pytester.makepyfile(test_user="def test_it(localstack):\n    pass\n")
    result = run_pytest("--faasflow-aws", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*the localstack fixture is for an emulator: with --faasflow-aws*"])


def test_a_project_that_does_not_use_the_fixtures_is_left_alone(run_pytest, pytester: pytest.Pytester):
    pytester.makepyfile(test_a="def test_a():\n    pass\n", test_b="def test_b():\n    pass\n")
    result = run_pytest("-p", "no:localstack")
    result.assert_outcomes(passed=2)


def test_a_localstack_container_is_started_by_pytest_localstack_with_the_token(monkeypatch: pytest.MonkeyPatch):
    """Docker cannot run here: pytest-localstack's container session is a recording stand-in."""
    from faasflow.testing import localstack_session

    made: list[dict] = []

    class Recording:
        def __init__(self, client: object, **options: object) -> None:
            made.append({"client": client, **options})

        def start(self, timeout: float) -> None:
            made[-1]["timeout"] = timeout

    monkeypatch.setattr("pytest_localstack.session.LocalstackSession", Recording)
    docker = object()
    token = {"LOCALSTACK_AUTH_TOKEN": "ls-token"}
    localstack_session.start_container("2026.03.0", "eu-west-1", 90, client=docker, environ=token)
    localstack_session.start_container(None, "us-east-1", client=docker, environ={})
    assert made == [
        {"client": docker, "region_name": "eu-west-1", "localstack_version": "2026.03.0", "container_env": token,
         "timeout": 90},
        {"client": docker, "region_name": "us-east-1", "localstack_version": "4.14", "container_env": {},
         "timeout": 60.0},
    ]
    with pytest.raises(localstack_session.LocalStackUnavailable, match="LocalStack latest needs LOCALSTACK_AUTH"):
        localstack_session.start_container("latest", "us-east-1", client=docker, environ={})


def test_without_the_tool_environments_the_emulator_tests_are_skipped_saying_why(run_pytest,
                                                                                 pytester: pytest.Pytester):
    """As on a machine with no python3.13 and no package index: ensure_tools refuses (stood in for)."""
    pytester.makeconftest("""
        import faasflow.deploy.tools as tools


        def refuse(runtime="python3.13"):
            raise tools.ToolsUnavailable(f"no usable python{runtime[6:]} found (tried nothing)")


        tools.ensure_tools = refuse
    """)
    pytester.makepyfile(test_user="def test_it(deployed_flow):\n    pass\n\n\ndef test_plain():\n    pass\n")
    result = run_pytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*faasflow_emulator: the SAM CLI and MiniStack (python3.13) environments "
                                 "cannot be created here: no usable python3.13 found (tried nothing)"])
