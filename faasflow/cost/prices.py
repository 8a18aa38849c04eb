"""The published prices the cost model multiplies by: data, not code.

``prices.json`` beside this module is a dated table (us-east-1, x86), each price with its
value, what it counts (``per`` so many of ``unit``) and its source, so that a reader can
check every figure against the page it came from. ``--prices FILE`` overrides some or all
of them (another region, a discount, a newer page) with a file of the same shape; every
overriding price names its own source. A bad file is refused whole, naming the file and
the field: a cost figure from a half-read table would be worse than none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from faasflow.errors import FaasflowError

PACKAGE_TABLE = "prices.json"
TABLE_FIELDS = ("date", "region", "currency", "prices")
PRICE_FIELDS = ("value", "per", "unit", "source")
# What the model prices, and the names the table gives them.
NAMES = (
    "lambda_requests",
    "lambda_gb_seconds",
    "express_requests",
    "express_gb_seconds",
    "standard_transitions",
    "api_gateway_requests",
    "s3_get_requests",
    "s3_put_requests",
)


@dataclass(frozen=True)
class Price:
    """``value`` dollars per ``per`` of ``unit``, as ``source`` publishes it."""

    name: str
    value: float
    per: float
    unit: str
    source: str
    overridden: bool = False  # it came from --prices, not the package's table

    @property
    def each(self) -> float:
        """Dollars for one of ``unit``."""
        return self.value / self.per


@dataclass(frozen=True)
class PriceTable:
    date: str
    region: str
    currency: str
    prices: Mapping[str, Price]
    override: str | None = None  # the --prices file, when one was read
    override_date: str | None = None

    def __getitem__(self, name: str) -> Price:
        return self.prices[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date, "region": self.region, "currency": self.currency,
            "override": self.override, "override_date": self.override_date,
            "prices": {name: {"value": p.value, "per": p.per, "unit": p.unit, "source": p.source,
                              "overridden": p.overridden} for name, p in self.prices.items()},
        }


class PriceFileError(FaasflowError):
    """A price table that cannot be used; the message names the file and the field."""

    def __init__(self, path: str, message: str, field: str | None = None):
        super().__init__(f"prices file {path}: {field + ': ' if field else ''}{message}")


def load_prices(override: str | None = None) -> PriceTable:
    """The package's table, with the prices of ``override`` (a JSON file) in place of its own."""
    text = resources.files("faasflow.cost").joinpath(PACKAGE_TABLE).read_text(encoding="utf-8")
    table = parse_table(_json(text, f"faasflow/cost/{PACKAGE_TABLE}"), f"faasflow/cost/{PACKAGE_TABLE}")
    if override is None:
        return table
    return apply_override(table, read_override(override), override)


def read_override(path: str) -> Mapping[str, Any]:
    file = Path(path)
    if file.is_dir():
        raise PriceFileError(path, "is a folder, not a JSON file")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PriceFileError(path, "no such file") from None
    except UnicodeDecodeError:
        raise PriceFileError(path, "not JSON: not UTF-8 text") from None
    except OSError as exc:
        raise PriceFileError(path, f"cannot read it: {exc.strerror or exc}") from None
    return _json(text, path)


def _json(text: str, path: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceFileError(path, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise PriceFileError(path, f"expected a JSON object with {', '.join(TABLE_FIELDS)}, got {_kind(data)}")
    return data


def parse_table(data: Mapping[str, Any], path: str) -> PriceTable:
    """A complete table: every price the model needs, every field of each."""
    _check_fields(data, TABLE_FIELDS, TABLE_FIELDS, path, None)
    prices = _prices_object(data, path)
    missing = [name for name in NAMES if name not in prices]
    if missing:
        raise PriceFileError(path, f"missing price {missing[0]!r}", "prices")
    return PriceTable(
        date=_date(data, path), region=_text(data, "region", path, None), currency=_text(data, "currency", path, None),
        prices={name: _price(name, prices[name], path, None) for name in NAMES})


def apply_override(table: PriceTable, data: Mapping[str, Any], path: str) -> PriceTable:
    """``table`` with the prices ``data`` gives (a ``date`` and ``prices``; each price a
    ``value`` and ``source``, its ``per`` and ``unit`` the package's unless given)."""
    _check_fields(data, TABLE_FIELDS, ("date", "prices"), path, None)
    prices = _prices_object(data, path)
    merged = dict(table.prices)
    for name, entry in prices.items():
        merged[name] = replace(_price(name, entry, path, table.prices[name]), overridden=True)
    return replace(
        table, prices=merged, override=path, override_date=_date(data, path),
        region=_text(data, "region", path, None) if "region" in data else table.region,
        currency=_text(data, "currency", path, None) if "currency" in data else table.currency)


def _prices_object(data: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    prices = data["prices"]
    if not isinstance(prices, dict):
        raise PriceFileError(path, f"expected an object of prices, got {_kind(prices)}", "prices")
    for name in prices:
        if name not in NAMES:
            raise PriceFileError(path, f"unknown price (known: {', '.join(NAMES)})", f"prices.{name}")
    return prices


def _price(name: str, entry: Any, path: str, default: Price | None) -> Price:
    where = f"prices.{name}"
    if not isinstance(entry, dict):
        raise PriceFileError(path, f"expected an object with {', '.join(PRICE_FIELDS)}, got {_kind(entry)}", where)
    # an override gives a value and its source; ``per`` and ``unit`` go together (a value
    # counted per thousand must not be read per million)
    required = PRICE_FIELDS if default is None or {"per", "unit"} & set(entry) else ("value", "source")
    _check_fields(entry, PRICE_FIELDS, required, path, where)
    value = _number(entry, "value", path, where, positive=False)
    if default is None or "per" in entry or "unit" in entry:  # a complete table, or a price that says
        per, unit = _number(entry, "per", path, where, positive=True), _text(entry, "unit", path, where)
    else:
        per, unit = default.per, default.unit
    if not math.isfinite(value / per):  # each finite, their quotient not: 1e308 per 1e-308
        raise PriceFileError(path, f"value / per must be a finite price of one {unit}, got {value!r} / {per!r}",
                             f"{where}.value")
    return Price(name, value, per, unit, _text(entry, "source", path, where))


def _check_fields(data: Mapping[str, Any], known: tuple[str, ...], required: tuple[str, ...], path: str,
                  where: str | None) -> None:
    for key in data:
        if key not in known:
            field = f"{where}.{key}" if where else str(key)
            raise PriceFileError(path, f"unknown field (fields: {', '.join(known)})", field)
    for key in required:
        if key not in data:
            raise PriceFileError(path, "missing", f"{where}.{key}" if where else key)


def _number(data: Mapping[str, Any], key: str, path: str, where: str, positive: bool) -> float:
    value = data[key]
    bound = "above 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceFileError(path, f"must be a number {bound}, got {_kind(value)}", f"{where}.{key}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise PriceFileError(path, f"must be a finite number {bound}, got {json.dumps(value)}", f"{where}.{key}")
    return float(value)


def _text(data: Mapping[str, Any], key: str, path: str, where: str | None) -> str:
    value = data[key]
    field = f"{where}.{key}" if where else key
    if not isinstance(value, str) or not value.strip():
        raise PriceFileError(path, f"must be a non-empty string, got {_kind(value)}", field)
    return value


def _date(data: Mapping[str, Any], path: str) -> str:
    value = _text(data, "date", path, None)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise PriceFileError(path, f"must be a date as YYYY-MM-DD, got {value!r}", "date") from None
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else "a string"
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)
