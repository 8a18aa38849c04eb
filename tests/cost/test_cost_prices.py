"""The price table: dated, each price with its source; overridable by a file; a bad file
refused whole, in one line naming the file and the field (exit code 2)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from faasflow.cli import main
from faasflow.cost.prices import NAMES, load_prices

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")


def test_the_package_table_is_dated_and_names_every_source():
    table = load_prices()
    date.fromisoformat(table.date)
    assert (table.region, table.currency) == ("us-east-1", "USD")
    assert set(table.prices) == set(NAMES)
    for price in table.prices.values():
        assert "https://aws.amazon.com/" in price.source and price.unit and price.per > 0
    assert table["lambda_requests"].each == pytest.approx(0.20 / 1e6)
    assert table["s3_put_requests"].each == pytest.approx(0.005 / 1e3)


def test_an_override_file_replaces_the_prices_it_names(tmp_path, capsys):
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"date": "2027-01-15", "region": "eu-west-1", "prices": {
        "api_gateway_requests": {"value": 3.70, "source": "a negotiated rate"},
        "s3_get_requests": {"value": 0.42, "per": 1_000_000, "unit": "S3 GETs", "source": "a newer page"}}}))
    table = load_prices(str(override))
    assert table["api_gateway_requests"].each == pytest.approx(3.70 / 1e6)
    assert table["api_gateway_requests"].overridden and table["api_gateway_requests"].source == "a negotiated rate"
    assert table["s3_get_requests"].each == pytest.approx(0.42 / 1e6)
    assert not table["lambda_requests"].overridden and table.region == "eu-west-1"

    assert main(["cost", FLOW, "--prices", str(override), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    query = next(cost for cost in data["endpoints"] if cost["endpoint"] == "/query")
    api = next(item for item in query["cost"]["items"] if item["price"] == "api_gateway_requests")
    assert api["dollars"] == pytest.approx(3.70 / 1e6)
    assert data["prices"]["override"] == str(override)


GOOD_PRICE = {"value": 0.2, "source": "x"}


@pytest.mark.parametrize(("content", "field", "problem"), [
    ("{not json", None, "not JSON"),
    ("[1, 2]", None, "expected a JSON object"),
    (json.dumps({"prices": {}}), "date", "missing"),
    (json.dumps({"date": "soon", "prices": {}}), "date", "YYYY-MM-DD"),
    (json.dumps({"date": "2027-01-01", "prices": {}, "discount": 1}), "discount", "unknown field"),
    (json.dumps({"date": "2027-01-01", "prices": {"lamda_requests": GOOD_PRICE}}), "prices.lamda_requests",
     "unknown price"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {"source": "x"}}}),
     "prices.lambda_requests.value", "missing"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {"value": 0.2}}}),
     "prices.lambda_requests.source", "missing"),
    ('{"date": "2027-01-01", "prices": {"lambda_requests": {"value": NaN, "source": "x"}}}',
     "prices.lambda_requests.value", "finite number"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {"value": -0.2, "source": "x"}}}),
     "prices.lambda_requests.value", ">= 0"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {"value": "0.2", "source": "x"}}}),
     "prices.lambda_requests.value", "must be a number"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {**GOOD_PRICE, "per": 0, "unit": "x"}}}),
     "prices.lambda_requests.per", "above 0"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {**GOOD_PRICE, "per": 1000}}}),
     "prices.lambda_requests.unit", "missing"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {**GOOD_PRICE, "cost": 1}}}),
     "prices.lambda_requests.cost", "unknown field"),
    (json.dumps({"date": "2027-01-01", "prices": {"lambda_requests": {"value": 1e308, "per": 1e-308, "unit": "x",
                                                                      "source": "x"}}}),
     "prices.lambda_requests.value", "value / per must be a finite price"),
])
def test_a_bad_price_file_is_refused_naming_file_and_field(tmp_path, capsys, content, field, problem):
    bad = tmp_path / "bad-prices.json"
    bad.write_text(content)
    assert main(["cost", FLOW, "--prices", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"faasflow: error: prices file {bad}: ")
    if field is not None:
        assert f": {field}: " in lines[0]
    assert problem in lines[0]


def test_a_missing_price_file_is_one_line(tmp_path, capsys):
    assert main(["cost", FLOW, "--prices", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.strip() == f"faasflow: error: prices file {tmp_path / 'nope.json'}: no such file"
