"""scenario churn without a lab: its settings' errors (exit 2, naming the setting), the
histogram arithmetic behind its sync and network-programming percentiles, and its table
and CSV from a result as the scenario builds it."""

from __future__ import annotations

import argparse
import csv
import io

import pytest

from kubenetlab.controlplane.kubeproxy import bucket_quantile, parse_metrics
from kubenetlab.errors import UsageError
from kubenetlab.report import views
from kubenetlab.scenarios import churn


def _settings(*argv: str) -> churn.ChurnSettings:
    parser = argparse.ArgumentParser()
    churn.arguments(parser)
    return churn.settings_from(parser.parse_args(list(argv)))


def test_defaults_measure_every_proxy_quiet_then_at_1_and_10_changes_per_second() -> None:
    s = _settings()
    assert s.proxies == ("iptables", "nftables", "ebpf") and s.rates == (1.0, 10.0)
    assert s.services == (1000,) and s.min_sync_periods == ("1s",)
    assert churn.steps(s) == 3 * 3  # a lab per proxy; quiet + two rates in each


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--proxy", "ipvs"], "unknown service proxy 'ipvs'"),
        (["--services", "0"], "services must be 1-20,000, not 0"),
        (["--services", "many"], "services takes integers"),
        (["--rate", "fast"], "rate must be a number of changes per second, not 'fast'"),
        (["--rate", "1000"], "rate must be 0-500"),
        (["--min-sync-period", "1 second"], "min_sync_period must be a duration"),
        (["--min-sync-period", "10m"], "min sync period must be at most 5m, not 10m"),
        (["--duration", "1"], "duration must be 2-3600 s, not 1"),
        (["--endpoints-per-service", "0"], "endpoints per service must be 1-100, not 0"),
        (["--nodes", "1"], "nodes must be 2-20, not 1"),
    ],
)
def test_bad_settings_are_one_line_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        _settings(*argv)
    assert message in err.value.message


METRICS = """\
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"} 1
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.008"} 4
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.064"} 9
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="+Inf"} 10
kubeproxy_sync_proxy_rules_duration_seconds_sum 0.2
kubeproxy_sync_proxy_rules_duration_seconds_count 10
kubeproxy_network_programming_duration_seconds_bucket{le="0.5"} 3
kubeproxy_network_programming_duration_seconds_bucket{le="1"} 7
kubeproxy_network_programming_duration_seconds_bucket{le="+Inf"} 8
kubeproxy_network_programming_duration_seconds_count 8
"""


def test_percentiles_come_from_the_observations_between_two_readings() -> None:
    before = parse_metrics(METRICS)
    after = parse_metrics(
        METRICS.replace('"0.008"} 4', '"0.008"} 4')
        .replace('"0.064"} 9', '"0.064"} 19')
        .replace('"+Inf"} 10', '"+Inf"} 20')
        .replace('le="1"} 7', 'le="1"} 17')
        .replace('le="+Inf"} 8', 'le="+Inf"} 18')
    )
    assert after.programming_count == 8 and len(after.programming_buckets) == 3
    # the ten syncs made between the readings all took 8-64 ms; earlier ones do not count
    assert bucket_quantile(after.duration_buckets, before.duration_buckets, 0.5) == 0.064
    assert bucket_quantile(after.programming_buckets, before.programming_buckets, 0.99) == 1.0
    assert bucket_quantile(before.duration_buckets, before.duration_buckets, 0.5) is None


def _report() -> churn.ChurnReport:
    s = _settings("--proxy", "iptables", "--services", "100", "--rate", "5", "--duration", "10")
    quiet = churn.Window("quiet", 0.0, 0.0, 0, 10.1, crr={"p50_us": 310.0, "p99_us": 900.0})
    busy = churn.Window(
        "churn", 5.0, 3.9, 39, 10.0,
        [churn.NodeCpu("node1", 12.5, 6.25, 12.0), churn.NodeCpu("node2", 14.0, 7.0, 13.8)],
        apiserver_percent_of_core=20.0, etcd_percent_of_core=3.0, syncs=10, full_syncs=1,
        partial_syncs=9, sync_mean_ms=20.0, sync_p50_ms=16.0, sync_p99_ms=64.0,
        programming_p99_ms=1000.0, crr={"p50_us": 330.0, "cpu_us_per_connection": 40.0},
    )  # fmt: skip
    row = churn.Row("iptables", 100, "1s", "kube-proxy v1.36.3 (upstream)", 1.5, 3.0, [quiet, busy])
    return churn.ChurnReport(s, [row], cpus=2, seconds=60)


def test_table_and_csv_show_each_window_and_a_churner_that_fell_behind(capsys) -> None:
    report = _report()
    assert report.rows[0].windows[1].proxy_percent_of_core == 14.0  # the busiest node
    views.view(report).table(report, False)
    out = capsys.readouterr().out
    assert "3.9/s (behind)" in out and " 14.0 " in out and "10 (1/9)" in out
    assert max(len(line) for line in out.splitlines()) <= 120
    rows = list(csv.DictReader(io.StringIO(views.view(report).csv(report))))
    assert [r["window"] for r in rows] == ["quiet", "churn"]
    assert rows[1]["achieved_rate"] == "3.9" and rows[1]["proxy_percent_of_core"] == "14.0"
    doc = report.document()
    assert doc["kind"] == "churn" and doc["rows"][0]["windows"][1]["proxy_percent_of_core"] == 14.0
