from bench.cluster import FOREIGN_RECORDS, ProcessCost, costs, metric_total, table

EXPOSITION = f"""# HELP {FOREIGN_RECORDS} Records of other gateways' answers.
# TYPE {FOREIGN_RECORDS} counter
{FOREIGN_RECORDS}{{topic="support.answers"}} 12.0
{FOREIGN_RECORDS}{{topic="support.answer-deltas"}} 30.0
{FOREIGN_RECORDS}_created{{topic="support.answers"}} 1.7e9
techgear_gateway_requests_total 5.0
"""


def test_metric_total_sums_every_series_of_the_name_only() -> None:
    assert metric_total(EXPOSITION, FOREIGN_RECORDS) == 42.0


def test_metric_total_of_an_absent_metric_is_zero() -> None:
    assert metric_total(EXPOSITION, "techgear_absent_total") == 0.0


def test_costs_divide_each_process_cpu_by_the_answers() -> None:
    rows = costs(
        {"gateway-0": 1.0, "worker-0": 2.0},
        {"gateway-0": 1.5, "worker-0": 4.0},
        answers=100,
        served={"gateway-0": 50},
        foreign={"gateway-0": 7.0},
        peaks={"worker-0": 512.34},
    )
    assert rows == [
        ProcessCost("gateway-0", 5.0, 10.0, 7),
        ProcessCost("worker-0", 20.0, peak_rss_mb=512.3),
    ]


def test_costs_without_answers_do_not_divide_by_zero() -> None:
    assert costs({"kafka": 0.0}, {"kafka": 0.3}, answers=0, served={}, foreign={}, peaks={}) == [
        ProcessCost("kafka", 300.0)
    ]


def test_table_totals_the_stack_and_every_process() -> None:
    lines = table(
        [
            ProcessCost("gateway-0", 5.0, 10.0, 7),
            ProcessCost("worker-0", 20.0, peak_rss_mb=512.3),
            ProcessCost("kafka", 4.0),
            ProcessCost("redis", 1.0),
        ]
    ).splitlines()
    assert lines[1].split() == ["gateway-0", "5.00", "10.00", "7"]
    assert lines[2].split() == ["worker-0", "20.00", "512"]
    assert lines[-2].split()[:2] == ["stack", "29.00"]
    assert lines[-1].split() == ["all", "30.00"]
