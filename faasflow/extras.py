"""The optional extras, and the one line a missing one gives.

``import faasflow`` needs none of them. What needs one (a command, an import, a fixture)
checks it at the point of use, so that a user who installed plain ``faasflow`` reads which
extra to install rather than a ModuleNotFoundError traceback from deep inside:

    faasflow serve needs the 'serve' extra: pip install 'faasflow[serve]'
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from faasflow.errors import FaasflowError

# The top-level modules each extra brings that faasflow imports (pyproject.toml lists the packages).
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "starlette", "pydantic", "uvicorn", "prometheus_client", "httpx"),
    "aws": ("boto3", "botocore"),
    "onnx": ("onnxruntime", "tokenizers"),
    "testing": ("pytest", "pytest_localstack", "boto3", "botocore", "httpx"),
}
# What of the serve extra each side imports: checking the server's must not load httpx, nor
# the Client's the whole server stack.
SERVER_MODULES = ("fastapi", "uvicorn", "prometheus_client")
CLIENT_MODULES = ("httpx",)


class MissingExtra(FaasflowError, ModuleNotFoundError):
    """What a feature needs is not installed: names the extra and the pip command.

    A ModuleNotFoundError too, so code that guards an optional import still catches it."""

    def __init__(self, feature: str, extra: str, module: str | None = None) -> None:
        self.feature, self.extra = feature, extra
        FaasflowError.__init__(self, f"{feature} needs the '{extra}' extra: pip install 'faasflow[{extra}]'")
        self.name = module
        self.msg = str(self)


def _module_root(exc: ModuleNotFoundError) -> str:
    return (exc.name or "").partition(".")[0]


def _belongs(exc: ModuleNotFoundError, extra: str, modules: tuple[str, ...]) -> bool:
    """Whether the module that is missing is one the extra brings (not one that an installed
    package of it lacks, which is that package's problem and keeps its own error)."""
    return _module_root(exc) in (*EXTRAS[extra], *modules)


def require(feature: str, extra: str, modules: tuple[str, ...] | None = None) -> None:
    """Import the extra's modules (or ``modules`` of it) now, so a missing one is a
    MissingExtra naming the extra before any work is done."""
    wanted = EXTRAS[extra] if modules is None else modules
    for module in wanted:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not _belongs(exc, extra, wanted):
                raise
            raise MissingExtra(feature, extra, exc.name) from exc


@contextmanager
def needs(feature: str, extra: str, modules: tuple[str, ...] | None = None) -> Iterator[None]:
    """``require`` (``modules=()`` checks nothing up front, for imports that must stay as they
    are), and the same MissingExtra if the body (the feature's own imports) fails on one of
    the extra's modules. A MissingExtra of the same extra from a nested ``needs`` is told as
    this feature's: the outermost one is what the user did."""
    require(feature, extra, modules)
    try:
        yield
    except MissingExtra as exc:
        if exc.extra != extra or exc.feature == feature:
            raise
        raise MissingExtra(feature, extra, exc.name) from exc
    except ModuleNotFoundError as exc:
        if not _belongs(exc, extra, modules or ()):
            raise
        raise MissingExtra(feature, extra, exc.name) from exc
