"""The Lambda Python runtimes a Flow can run on (``runtime:`` under the Flow's ``with:``).

python3.12 and python3.13 run on Amazon Linux 2023; python3.11 on Amazon Linux 2, whose
older glibc takes fewer current wheels (numpy stops at 2.2, onnxruntime not at all). The
runtime decides the functions' ``Runtime``, the interpreter the layers are built for, and
the interpreter the emulator runs the handlers on.
"""

from __future__ import annotations

RUNTIMES = ("python3.11", "python3.12", "python3.13")
DEFAULT_RUNTIME = "python3.13"
AMAZON_LINUX_2 = frozenset({"python3.11"})  # glibc 2.26: manylinux2014 wheels only


def check_runtime(runtime: object) -> str:
    """``runtime`` if faasflow supports it, else a ValueError naming the choices."""
    if not isinstance(runtime, str) or runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    return runtime


def runtime_version(runtime: str) -> str:
    """``'3.13'`` for ``'python3.13'``."""
    return check_runtime(runtime).removeprefix("python")
