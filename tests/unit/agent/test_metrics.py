"""The agent's metrics from what its workers report and what it holds: apply durations per
resource type, drift counted once per event, the certificate in use, audit checkpoint age."""

from __future__ import annotations

from pathlib import Path

from transom import __version__
from transom.agent.audit_publisher import AuditPublisher
from transom.agent.enroll import certificate_window
from transom.agent.metrics import (
    AGENT_INFO,
    APPLY_DURATION,
    AUDIT_CHECKPOINT_AGE,
    AUDIT_LAST_CHECKPOINT,
    CERTIFICATE_EXPIRY,
    DRIFT_EVENTS,
    AgentMetrics,
)
from transom.dev import pki
from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditTrail,
    ChangeSource,
    Checkpointer,
)
from transom.engine.result import Action, ResourceOutcome, RunReport, Status
from transom.kube.client import Kube
from transom.kube.config import KubeConfig

SOURCE = ChangeSource("web01", "transom:host:web01")


def outcome(
    name: str,
    kind: str,
    status: Status,
    ms: float = 0.0,
    *,
    in_desired_state: bool = True,
    changed: bool = False,
    skipped: bool = False,
    drifted: bool = False,
) -> ResourceOutcome:
    return ResourceOutcome(
        name=name,
        kind=kind,
        status=status,
        in_desired_state=in_desired_state,
        changed=changed,
        skipped=skipped,
        drifted=drifted,
        duration_ms=ms,
    )


def sample(m: AgentMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_apply_runs_are_timed_per_resource_type() -> None:
    m = AgentMetrics()
    report = RunReport(
        Action.APPLY,
        (
            outcome("a", "File", Status.CHANGED, 20, changed=True),
            outcome("b", "File", Status.OK, 5),
            outcome("svc", "Service", Status.OK, 1500),
            outcome("c", "File", Status.SKIPPED, skipped=True, in_desired_state=False),
        ),
        1525,
    )
    m.applied(report)
    assert sample(m, APPLY_DURATION + "_count", type="File") == 2  # the skipped one did nothing
    assert sample(m, APPLY_DURATION + "_sum", type="File") == 0.025
    assert sample(m, APPLY_DURATION + "_bucket", type="Service", le="2.5") == 1
    assert sample(m, APPLY_DURATION + "_bucket", type="Service", le="1.0") == 0
    # Drift checks and what-if are no apply runs.
    m.applied(RunReport(Action.APPLY, report.results, 1, drift_check=True))
    m.applied(RunReport(Action.WHAT_IF, report.results, 1))
    assert sample(m, APPLY_DURATION + "_count", type="File") == 2


def test_drift_is_counted_per_correction_and_once_while_only_reported() -> None:
    m = AgentMetrics()
    corrected = outcome("f", "File", Status.CHANGED, changed=True, drifted=True)
    reported = outcome("k", "RegistryValue", Status.DRIFTED, drifted=True, in_desired_state=False)
    clean = outcome("s", "Service", Status.OK)
    check = RunReport(Action.APPLY, (corrected, reported, clean), 1, drift_check=True)
    m.checked(check, told=set())
    # The next check finds the same: the correction is a new event, the reported drift is not.
    m.checked(check, told={"k"})
    assert sample(m, DRIFT_EVENTS + "_total", type="File") == 2
    assert sample(m, DRIFT_EVENTS + "_total", type="RegistryValue") == 1
    assert sample(m, DRIFT_EVENTS + "_total", type="Service") is None


def test_the_certificate_gauge_follows_rotation(tmp_path: Path) -> None:
    ca = pki.make_ca(tmp_path, "ca")
    first = pki.issue(ca, tmp_path, "one", "transom:host:web01").cert.read_bytes()
    config = KubeConfig(server="https://127.0.0.1:1", cert_pem=first, key_pem=b"")
    m = AgentMetrics()
    m.observe_agent("web01", Kube(config), None)
    assert sample(m, CERTIFICATE_EXPIRY) == certificate_window(first)[1].timestamp()
    assert sample(m, AGENT_INFO, host="web01", version=__version__) == 1
    rotated = pki.issue(ca, tmp_path, "two", "transom:host:web01").cert.read_bytes()
    config.cert_pem = rotated
    assert sample(m, CERTIFICATE_EXPIRY) == certificate_window(rotated)[1].timestamp()
    # Without audit there are no audit samples.
    assert sample(m, AUDIT_CHECKPOINT_AGE) is None


def test_a_token_has_no_certificate_expiry() -> None:
    m = AgentMetrics()
    m.observe_agent("web01", Kube(KubeConfig(server="https://127.0.0.1:1", token="t")), None)
    assert sample(m, CERTIFICATE_EXPIRY) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_checkpoint_age_counts_while_records_wait_for_a_published_checkpoint(
    tmp_path: Path,
) -> None:
    clock = Clock()
    log = AuditLog(tmp_path)
    checkpointer = Checkpointer(log, AuditKey.generate(), clock=clock)
    trail = AuditTrail(log, checkpointer=checkpointer, clock=clock)
    kube = Kube(KubeConfig(server="https://127.0.0.1:1", token="t"))
    publisher = AuditPublisher(kube, "web01", trail, checkpointer, retry_seconds=1, clock=clock)
    m = AgentMetrics()
    m.observe_agent("web01", kube, publisher, clock=clock)
    assert sample(m, AUDIT_CHECKPOINT_AGE) == 0  # an empty log: nothing waits
    assert sample(m, AUDIT_LAST_CHECKPOINT) is None

    trail.record(SOURCE, "f", "File", AuditAction.DRIFT_DETECTED)
    clock.now += 5
    assert sample(m, AUDIT_CHECKPOINT_AGE) == 0  # first noticed now
    clock.now += 40
    assert sample(m, AUDIT_CHECKPOINT_AGE) == 40

    # Signed, but the hub does not hold it yet: still waiting.
    checkpoint = checkpointer.checkpoint()
    clock.now += 10
    assert sample(m, AUDIT_CHECKPOINT_AGE) == 50
    publisher.published = checkpoint  # what the run loop records once the patch succeeds
    assert sample(m, AUDIT_CHECKPOINT_AGE) == 0
    assert sample(m, AUDIT_LAST_CHECKPOINT) == checkpoint.timestamp == 1_800_000_045.0

    trail.record(SOURCE, "g", "File", AuditAction.DRIFT_DETECTED)
    clock.now += 1
    sample(m, AUDIT_CHECKPOINT_AGE)
    clock.now += 600
    assert sample(m, AUDIT_CHECKPOINT_AGE) == 600
