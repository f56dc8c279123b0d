"""What AWS says the stack's models ran: the CloudWatch metric ``InServiceInferenceUnits``
(namespace ``AWS/Rekognition``, dimensions ``ProjectName`` and ``VersionName``), which Rekognition
Custom Labels publishes for models trained and started after August 2022 — AWS's own record of the
hours a model ran and the inference units it used, against which the cost ledger is reconciled.

Read with ``GetMetricData`` at a one-minute period with the ``Average`` statistic (the metric's
documented statistic: the units in service, averaged over each minute), so each minute's value ÷ 60
is its IU-hours; CloudWatch keeps one-minute data for 15 days, so a window reaches back 15 days at
most. The window ends at the last minute with data: CloudWatch lags by minutes, and a model that no
longer runs has nothing after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from .ledger import iu_hours
from .state import ServingPeriod

NAMESPACE, METRIC = "AWS/Rekognition", "InServiceInferenceUnits"
PERIOD = 60
RETENTION = timedelta(days=15)  # one-minute data
QUERIES_PER_CALL = 500


@dataclass(frozen=True)
class Usage:
    """IU-hours per version from the metric, over [start, end)."""

    start: datetime
    end: datetime
    iu_hours: Mapping[str, float]

    @property
    def total(self) -> float:
        return sum(self.iu_hours.values())


def project_of(version_arn: str) -> str:
    """The project of ``…:project/<project>/version/<version>/<created>``."""
    return version_arn.split(":project/", 1)[1].split("/", 1)[0]


def in_service(cloudwatch, versions: Mapping[str, str], start: datetime, end: datetime) -> Usage:
    """``InServiceInferenceUnits`` of each version (version -> its project) over [start, end), clipped to
    the 15 days of one-minute data and ended at the last minute with data."""
    start = max(start, end - RETENTION).replace(second=0, microsecond=0)  # CloudWatch's minutes start on the minute
    names = sorted(versions)
    hours: dict[str, float] = {version: 0.0 for version in names}
    last: datetime | None = None
    for first in range(0, len(names), QUERIES_PER_CALL):
        queries = [{"Id": f"v{i}", "ReturnData": True, "MetricStat": {
            "Period": PERIOD, "Stat": "Average", "Metric": {
                "Namespace": NAMESPACE, "MetricName": METRIC,
                "Dimensions": [{"Name": "ProjectName", "Value": versions[version]},
                               {"Name": "VersionName", "Value": version}]}}}
                   for i, version in enumerate(names[first:first + QUERIES_PER_CALL], start=first)]
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page["MetricDataResults"]:
                version = names[int(result["Id"][1:])]
                hours[version] += sum(result["Values"]) * PERIOD / 3600
                if result["Timestamps"]:
                    newest = max(result["Timestamps"])
                    last = newest if last is None else max(last, newest)
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    covered = end if last is None else min(end, last.astimezone(end.tzinfo) + timedelta(seconds=PERIOD))
    return Usage(start, covered, {version: h for version, h in hours.items() if h})


def reconcile(cloudwatch, periods: Iterable[ServingPeriod], arns: Mapping[str, str], start: datetime,
              end: datetime) -> dict:
    """The ledger's IU-hours next to the metric's over the same window: both, and the ledger's difference
    in % of the metric. ``arns``: version -> its ARN (for its project)."""
    periods = list(periods)
    versions = {p.version for p in periods if iu_hours([p], start, end)}
    usage = in_service(cloudwatch, {v: project_of(arns[v]) for v in versions if arns.get(v)}, start, end)
    ledger = sum(iu_hours(periods, usage.start, usage.end).values())
    difference = None if not usage.total else round((ledger - usage.total) / usage.total * 100, 1)
    return {"from": usage.start.strftime("%Y-%m-%dT%H:%M:%SZ"), "until": usage.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ledger_iu_hours": round(ledger, 3), "cloudwatch_iu_hours": round(usage.total, 3),
            "difference_pct": difference}
