"""`labelloop stop`, `start` and `teardown` against a stack in moto (explicit names, as on AWS), and
the cost in `labelloop status`."""

from __future__ import annotations

import io

import pytest
from cli_support import cli, cli_json
from lifecycle_support import deploy_first, lifecycle_stack

from handlers.runtime import context


@pytest.fixture
def st():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        yield stack


@pytest.fixture
def target(st):
    return ["--parameter-path", st.parameter_path, "--table", st.table, "--lifecycle-arn",
            st.state_machines["lifecycle"]]


def test_stop_shows_what_it_saves_and_asks_first(capsys, monkeypatch, st, target):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # nobody to answer
    code, _, err = cli(capsys, "stop", *target)
    assert code == 2 and "saves $4.00 per hour (1 inference unit(s))" in err and "pass --yes" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = cli(capsys, "stop", *target)
    assert code == 1 and "was not stopped" in err
    assert st.models.status("v1") == "RUNNING"


def test_stop_then_start_through_the_serving_function(capsys, st, target):
    stopped = cli_json(capsys, "stop", *target, "--yes")
    assert (stopped["outcome"], stopped["version"], stopped["cost_per_hour"]) == ("stopped", "v1", 4.0)
    assert st.models.status("v1") in ("STOPPING", "STOPPED")
    status = cli_json(capsys, "status", *target)
    assert status["cost"]["per_hour_now"] == 0 and status["cost"]["units_running"] == 0
    assert status["serving"]["decision"]["policy"] == "operator"
    st.models.settle()
    code, out, err = cli(capsys, "start", *target, "--yes")
    assert code == 0 and "Start model v1: starting" in out
    assert st.models.operations("StartProjectVersion")[-1]["MinInferenceUnits"] == 1


def test_a_stop_while_a_lifecycle_run_trains_is_refused(capsys, st, target):
    context.table().take_training_lock("run-9", {"train": True, "reason": "new images", "trigger": "schedule"})
    code, out, _ = cli(capsys, "stop", *target, "--yes")
    assert code == 1 and "not stopped: a lifecycle run is training" in out
    assert st.models.status("v1") == "RUNNING"


def test_teardown_leaves_nothing_running(capsys, st, target):
    st.models.add_running(st.models.arn("v1").replace("/v1/", "/v0/"))  # a version started by hand
    result = cli_json(capsys, "teardown", *target, "--poll", "0")
    assert result["done"] and result["stopped"] == ["v0", "v1"] and result["still_live"] == []
    assert st.models.running == set()
    assert all(p.until for p in context.table().serving_periods())


def test_status_shows_the_cost_now_the_last_day_and_the_month(capsys, st, target):
    code, out, _ = cli(capsys, "status", *target)
    assert code == 0 and "now            $4.00 per hour (1 inference unit(s) running)" in out
    cost = cli_json(capsys, "status", *target)["cost"]
    assert cost["prices"] == {"inferenceUnitHour": 4.0, "trainingHour": 1.0, "review": 0.0}
    assert set(cost["month"]) == {"from", "iu_hours", "training_hours", "reviews", "detections", "cost",
                                  "cost_per_1000_images"}
    assert cost["month"]["training_hours"] >= 0 and "v1" in cost["month"]["iu_hours"]


def test_status_reconciles_the_ledger_with_in_service_inference_units(capsys, st, target, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from handlers.runtime.state import iso

    table = context.table()
    began = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=120)
    table.close_serving_period("v1", iso(began))
    table.open_serving_period("v1", 1, iso(began))  # the ledger: two hours of one unit, still running
    project = st.models.arn("v1").split(":project/")[1].split("/")[0]
    st.client("cloudwatch").put_metric_data(Namespace="AWS/Rekognition", MetricData=[  # AWS's record: 110 minutes
        {"MetricName": "InServiceInferenceUnits", "Timestamp": began + timedelta(minutes=m), "Value": 1.0,
         "Unit": "Count", "Dimensions": [{"Name": "ProjectName", "Value": project}, {"Name": "VersionName", "Value": "v1"}]}
        for m in range(10, 120)])
    check = cli_json(capsys, "status", *target)["cost"]["reconciled"]
    assert check["cloudwatch_iu_hours"] == pytest.approx(110 / 60, abs=0.001)
    assert check["ledger_iu_hours"] == pytest.approx(2.0, abs=0.001) and check["difference_pct"] == 9.1
    code, out, _ = cli(capsys, "status", *target)
    assert code == 0 and "the ledger has 2.00 IU-hours, InServiceInferenceUnits 1.83 (ledger +9.1 %)" in out

    from botocore.exceptions import ClientError

    def denied(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")

    monkeypatch.setattr("handlers.runtime.usage.in_service", lambda cloudwatch, *a: denied())
    code, out, _ = cli(capsys, "status", *target)
    assert code == 0 and "CloudWatch     not reconciled: CloudWatch InServiceInferenceUnits could not be read" in out
    assert "cloudwatch:GetMetricData" in out
