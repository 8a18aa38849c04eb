"""How a deployed Flow ships a new version of its executors (``deploy:`` under the Flow's ``with:``).

All at once is the default, as ``sam deploy`` does it. ``canary`` shifts ``percent`` of the
traffic to the new version, waits ``minutes``, then shifts the rest; ``linear`` shifts
``percent`` more every ``minutes``. Either way each executor function publishes a version
behind an alias that the state machines invoke, and CodeDeploy rolls the alias back when
that function's error or throttle alarm fires during the shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from faasflow.errors import FlowConfigError

STRATEGIES = ("all_at_once", "canary", "linear")
ALIAS = "live"  # the alias every executor function publishes behind
DEFAULT_PERCENT, DEFAULT_MINUTES = 10, 5
MAX_MINUTES = 1440  # a shift that waits more than a day between steps is not a deploy any more
FIELD = "deploy"


@dataclass(frozen=True)
class Rollout:
    """A gradual traffic shift: CodeDeploy's TimeBasedCanary or TimeBasedLinear."""

    strategy: Literal["canary", "linear"]
    percent: int
    minutes: int

    @property
    def describe(self) -> str:
        if self.strategy == "canary":
            return f"canary: {self.percent}% for {self.minutes} min, then all"
        return f"linear: {self.percent}% more every {self.minutes} min"

    def as_option(self) -> dict[str, object]:
        """The ``deploy:`` mapping this was read from (defaults included)."""
        return {"strategy": self.strategy, "percent": self.percent, "minutes": self.minutes}


def _whole_number(options: Mapping[str, object], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FlowConfigError(f"deploy.{key} must be a whole number from {low} to {high}, got {value!r}", field=FIELD)
    return value


def parse_rollout(value: object) -> Rollout | None:
    """The Flow's ``deploy`` option as a Rollout, or None for all at once; a FlowConfigError
    names the key at fault."""
    if value is None or isinstance(value, Rollout):
        return value
    if isinstance(value, str):  # ``deploy: canary``: the defaults
        value = {"strategy": value}
    if not isinstance(value, Mapping):
        raise FlowConfigError(f"deploy must be a mapping such as {{strategy: canary, percent: 10, minutes: 5}}, "
                              f"got {value!r}", field=FIELD)
    unknown = sorted(set(map(str, value)) - {"strategy", "percent", "minutes"})
    if unknown:
        raise FlowConfigError(f"unknown deploy option(s) {', '.join(unknown)}; known: strategy, percent, minutes",
                              field=FIELD)
    strategy = value.get("strategy")
    if strategy not in STRATEGIES:
        raise FlowConfigError(f"deploy.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", field=FIELD)
    if strategy == "all_at_once":
        extra = sorted({"percent", "minutes"} & set(value))
        if extra:
            raise FlowConfigError(f"deploy.{extra[0]} means nothing with strategy all_at_once", field=FIELD)
        return None
    # a canary of 100% or a linear step of 100% is all at once: refused rather than renamed
    percent = _whole_number(value, "percent", DEFAULT_PERCENT, 1, 99)
    minutes = _whole_number(value, "minutes", DEFAULT_MINUTES, 1, MAX_MINUTES)
    return Rollout("canary" if strategy == "canary" else "linear", percent, minutes)
