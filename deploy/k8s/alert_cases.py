"""promtool's unit tests of the alert rules (deploy/monitoring/carepath-rules.test.yaml): for every
alert, synthetic series that must fire it, and healthy ones that must leave it silent.

Series are sampled every minute; in promtool's notation `0+60x30` is 0, 60, 120, ... (31 samples),
`1x10` is eleven 1s and `_x5` five missing samples. The thresholds come from monitoring.py, so a
changed threshold keeps each case on its side of it.
"""

from dataclasses import dataclass, field
from typing import Any

from monitoring import (
    ALERTS,
    CONSUMER_LAG_MAX,
    GROUP,
    OUTBOX_AGE_MAX_SECONDS,
    TOPIC,
    dump_yaml,
    render,
)

NAMESPACE = "carepath"
# Target labels as the PodMonitor gives them
INTAKE = {"namespace": NAMESPACE, "job": "carepath-intake", "instance": "10.0.0.11:8001"}
INTAKE_2 = {**INTAKE, "instance": "10.0.0.12:8001"}
ELIGIBILITY = {"namespace": NAMESPACE, "job": "carepath-eligibility", "instance": "10.0.0.21:8002"}
ELIGIBILITY_GROUP = {GROUP: "carepath.eligibility"}
FROM_INTAKE = {TOPIC: "carepath.intake.events"}


@dataclass(frozen=True)
class Case:
    """At minute `at`, `alert` fires once for each of `fires` (its labels), or not at all."""

    alert: str
    name: str
    series: dict[str, str]  # series selector -> its samples
    at: int
    fires: list[dict[str, str]] = field(default_factory=list)


def selector(metric: str, *label_sets: dict[str, str]) -> str:
    labels = {key: value for labels in label_sets for key, value in labels.items()}
    return metric + "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def lags(*partitions: str) -> dict[str, str]:
    """Eligibility's lag on intake's topic: one samples string per partition."""
    labels = (ELIGIBILITY, ELIGIBILITY_GROUP, FROM_INTAKE)
    return {
        selector(
            "carepath_consumer_lag", *labels, {"messaging_destination_partition_id": str(p)}
        ): samples
        for p, samples in enumerate(partitions)
    }


def dead_letters(samples: str) -> dict[str, str]:
    labels = (ELIGIBILITY, ELIGIBILITY_GROUP, FROM_INTAKE, {"error_type": "ValidationError"})
    return {selector("carepath_consumer_dead_letters_total", *labels): samples}


def intake(metric: str, samples: str, **labels: str) -> dict[str, str]:
    return {selector(metric, INTAKE, labels): samples}


def commands(**samples_by_outcome: str) -> dict[str, str]:
    return {
        selector("carepath_commands_total", INTAKE, {"outcome": outcome}): samples
        for outcome, samples in samples_by_outcome.items()
    }


LAG = "CarePathConsumerLagHigh"
BEHIND = CONSUMER_LAG_MAX // 2 + 100  # on each of two partitions: together over the threshold
GROUP_LABELS = {"namespace": NAMESPACE, **ELIGIBILITY_GROUP}
SERVICE = {"namespace": NAMESPACE, "job": "carepath-intake"}
LAG_CASES = (
    Case(LAG, "over and growing", lags(f"{BEHIND}+20x30", f"{BEHIND}+20x30"), 15, [GROUP_LABELS]),
    Case(LAG, "over and stuck", lags(f"{BEHIND}x30", f"{BEHIND}x30"), 15, [GROUP_LABELS]),
    Case(LAG, "each partition under, summed over", lags(*[f"{BEHIND}x30"] * 6), 15, [GROUP_LABELS]),
    Case(LAG, "caught up", lags("0x30", "0x30"), 15),
    Case(LAG, "far behind, catching up", lags(f"{CONSUMER_LAG_MAX * 5}-100x30"), 15),
)
DEAD = "CarePathDeadLetters"
DEAD_LABELS = {**GROUP_LABELS, **FROM_INTAKE}
DEAD_LETTER_CASES = (
    Case(DEAD, "the first one: a new series", dead_letters("_x5 1x10"), 8, [DEAD_LABELS]),
    Case(DEAD, "one more", dead_letters("2x20 3x10"), 25, [DEAD_LABELS]),
    Case(DEAD, "none for longer than the window", dead_letters("2x40"), 35),
    Case(DEAD, "never any", {}, 10),
)
STALLED, PARKED = "CarePathOutboxStalled", "CarePathOutboxParked"
AGE = "carepath_outbox_oldest_age_seconds"
SLOW_SCRAPE = f"0x5 {OUTBOX_AGE_MAX_SECONDS * 2} 0x10"
OUTBOX_CASES = (
    Case(STALLED, "ageing a minute each minute", intake(AGE, "0+60x20"), 12, [SERVICE]),
    Case(STALLED, "drained", intake(AGE, "0x20"), 12),
    Case(STALLED, "one slow scrape", intake(AGE, SLOW_SCRAPE), 7),
    Case(PARKED, "an event parked", intake("carepath_outbox_parked", "0 0 1x10"), 6, [SERVICE]),
    Case(PARKED, "none parked", intake("carepath_outbox_parked", "0x10"), 6),
)
RELAY, CONSUMER = "CarePathRelayErrors", "CarePathConsumerErrors"
KAFKA_AWAY = {"error_type": "KafkaConnectionError"}
CONSUMER_ERRORS = (ELIGIBILITY, ELIGIBILITY_GROUP, {"error_type": "OperationalError"})
CONSUMER_LABELS = {"namespace": NAMESPACE, "job": "carepath-eligibility", **ELIGIBILITY_GROUP}
ERROR_CASES = (
    Case(
        RELAY,
        "failing for 25 minutes",
        intake("carepath_relay_errors_total", "0+3x30", **KAFKA_AWAY),
        25,
        [SERVICE],
    ),
    Case(
        RELAY,
        "a broker restart, then none",
        intake("carepath_relay_errors_total", "0 4 9 9x30", **KAFKA_AWAY),
        25,
    ),
    Case(
        CONSUMER,
        "failing for 25 minutes",
        {selector("carepath_consumer_errors_total", *CONSUMER_ERRORS): "0+1x30"},
        25,
        [CONSUMER_LABELS],
    ),
    Case(
        CONSUMER,
        "none since",
        {selector("carepath_consumer_errors_total", *CONSUMER_ERRORS): "2x30"},
        25,
    ),
)
KAFKA = "CarePathKafkaUnreachable"
KAFKA_CASES = (
    Case(KAFKA, "away", intake("carepath_kafka_connected", "1 1 0x10"), 6, [INTAKE]),
    Case(KAFKA, "connected", intake("carepath_kafka_connected", "1x10"), 6),
    Case(KAFKA, "away for a minute", intake("carepath_kafka_connected", "1 0 1x10"), 6),
)
TARGET, SERVICE_DOWN = "CarePathTargetDown", "CarePathServiceDown"
ANOTHER_APP = {"job": "billing", "instance": "10.0.9.9:80"}
TARGET_CASES = (
    Case(
        TARGET,
        "one of two pods down",
        {**intake("up", "1x10"), selector("up", INTAKE_2): "1 0x10"},
        8,
        [INTAKE_2],
    ),
    Case(TARGET, "another application's target", {selector("up", ANOTHER_APP): "0x10"}, 8),
    Case(
        SERVICE_DOWN,
        "every pod down",
        {**intake("up", "0x10"), selector("up", INTAKE_2): "0x10"},
        5,
        [SERVICE],
    ),
    Case(
        SERVICE_DOWN,
        "one of two pods up",
        {**intake("up", "1x10"), selector("up", INTAKE_2): "0x10"},
        5,
    ),
)
FAILING = "CarePathCommandsFailing"
COMMAND_CASES = (
    Case(
        FAILING,
        "one in eleven fails",
        commands(accepted="0+100x30", failed="0+10x30"),
        20,
        [SERVICE],
    ),
    Case(FAILING, "one in a hundred fails", commands(accepted="0+100x30", failed="0+1x30"), 20),
    Case(
        FAILING, "many refused, none failed", commands(accepted="0+100x30", refused="0+50x30"), 20
    ),
)
CASES = (
    *LAG_CASES,
    *DEAD_LETTER_CASES,
    *OUTBOX_CASES,
    *ERROR_CASES,
    *KAFKA_CASES,
    *TARGET_CASES,
    *COMMAND_CASES,
)


def expected(alert_name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The alert as Prometheus sends it: the labels, severity, and annotations filled in."""
    (alert,) = [a for a in ALERTS if a.name == alert_name]
    annotations = alert.rule()["annotations"]
    return {
        "exp_labels": {**labels, "severity": alert.severity},
        "exp_annotations": {key: render(text, labels) for key, text in annotations.items()},
    }


def test_group(case: Case) -> dict[str, Any]:
    return {
        "name": f"{case.alert}: {case.name}",
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
        "alert_rule_test": [
            {
                "eval_time": f"{case.at}m",
                "alertname": case.alert,
                "exp_alerts": [expected(case.alert, labels) for labels in case.fires],
            }
        ],
    }


HEADER = (
    "# GENERATED by deploy/k8s/generate.py (alert_cases.py); edit that, not this file.\n"
    "# promtool test rules deploy/monitoring/carepath-rules.test.yaml\n"
)


def rules_test_file() -> str:
    tests = {
        "rule_files": ["carepath-rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [test_group(case) for case in CASES],
    }
    return dump_yaml(tests, header=HEADER)
