"""Metrics leave each invocation as CloudWatch embedded metrics, and nothing carries over."""

import json
import types

from handlers.runtime import context
from handlers.runtime.lambda_entry import entry_point

LAMBDA_CONTEXT = types.SimpleNamespace(function_name="labelloop-test-evaluate", function_version="$LATEST",
                                       invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
                                       memory_limit_in_mb=256, aws_request_id="r-1")


@entry_point
def evaluated(event):
    context.metrics.add_dimension(name="version", value=event["version"])
    context.metrics.add_metric(name="ModelF1", unit="None", value=event["f1"])
    return "ok"


@entry_point
def quiet(event):
    return "nothing measured"


def test_a_metric_is_flushed_with_its_dimensions_then_cleared(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    assert evaluated({"version": "v7", "f1": 0.91}, LAMBDA_CONTEXT) == "ok"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emf,) = lines
    assert emf["ModelF1"] == [0.91] and emf["version"] == "v7"
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "labelloop"
    assert quiet({}, LAMBDA_CONTEXT) == "nothing measured"
    assert '"_aws"' not in capsys.readouterr().out  # no empty flush, no leftover dimension


def test_disabled_metrics_print_nothing_and_do_not_pile_up(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for version in ("v1", "v2"):
        evaluated({"version": version, "f1": 0.5}, LAMBDA_CONTEXT)
    assert '"_aws"' not in capsys.readouterr().out
    assert not context.metrics.metric_set
