"""MiniStack start/stop: a stopped emulator leaves no process or work dir behind."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from faasflow.testing import MiniStack

pytestmark = pytest.mark.emulator

HANDLER = "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"


def alive(pid: int) -> bool:
    """Running and not a zombie (reparented workers may never be reaped in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to inspect processes")
def test_stop_leaves_no_process_behind(emulator_tools: None) -> None:
    emulator = MiniStack()
    with emulator:
        leader = emulator.pid
        assert leader is not None
        workdir = emulator.log_path.parent
        lam = emulator.client("lambda")
        lam.create_function(
            FunctionName="pid-probe",
            Runtime="python3.13",
            Role="arn:aws:iam::000000000000:role/probe",
            Handler="app.handler",
            Code={"ZipFile": zipped(HANDLER)},
        )
        worker = json.loads(lam.invoke(FunctionName="pid-probe", Payload=b"{}")["Payload"].read())["pid"]
        assert worker != leader and alive(worker)  # a warm handler worker, child of the emulator
        assert worker in group_members(leader)
    assert not alive(leader)
    assert not alive(worker)
    assert group_members(leader) == []
    assert not workdir.exists()
    assert emulator.pid is None
    emulator.stop()  # idempotent


def test_start_failure_names_the_log(tmp_path: Path, emulator_tools: None) -> None:
    fake = tmp_path / "ministack"
    fake.write_text("#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 3\n")
    fake.chmod(0o755)
    emulator = MiniStack(executable=fake, log_dir=tmp_path / "log")
    with pytest.raises(Exception, match="address in use"):
        emulator.start(port=1)
    emulator.stop()
    assert os.path.exists(tmp_path / "log" / "ministack.log")  # a caller-owned log dir is kept
