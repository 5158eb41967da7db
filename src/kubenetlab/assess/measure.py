"""Measuring the twin as it is and as it could be, in one run, with the scenarios the
rest of kubenetlab uses: `compare` over the twin's stack and every what-if's (pod → pod
RR, CRR and stream, CRR to a ClusterIP, RR to a NodePort; the upstream kube-proxy or the
API-fed eBPF proxy programming each lab), `service-scale` at the twin's Service count for
each service proxy involved (CRR to the first and the last Service, the time to program
them all, the cluster's own Services replayed when the twin has them), `churn` at the
twin's size under the cluster's own endpoint churn rate and kube-proxy minSyncPeriod for
each proxy (the proxy's CPU and syncs, when the rate is known), `mtu` over the twin's
routing at the cluster's node MTU with its pod MTU beside the aligned one (the mtu
what-if) — and the audit of the cluster's own objects. Nothing here is new physics:
each figure is the scenario's, with its tool and CIs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.assess.profile import Profile
from kubenetlab.assess.rank import ranking
from kubenetlab.assess.twin import TwinPlan
from kubenetlab.errors import UsageError
from kubenetlab.stacks import resolve

CONTROL_PLANE = "kubernetes"  # the real kube-proxy, as the cluster runs it


@dataclass(frozen=True)
class MeasureSettings:
    repeats: int = 3
    duration: float = 1.0
    tests: tuple[str, ...] = ("rr", "crr", "stream")
    churn_seconds: float = 10.0  # each churn window (quiet, at the cluster's rate); 0: none

    def __post_init__(self) -> None:
        if self.churn_seconds and not 2 <= self.churn_seconds <= 600:
            raise UsageError(f"--churn-seconds must be 0 or 2-600, not {self.churn_seconds:g}")


@dataclass
class Assessment:
    profile: Profile
    plan: TwinPlan
    settings: MeasureSettings
    compare: dict[str, Any] | None = None
    scale: dict[str, Any] | None = None
    churn: dict[str, Any] | None = None
    mtu: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None
    ranking: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "kind": "assess", "schema_version": 1, "measured": self.compare is not None,
            "settings": {"repeats": s.repeats, "duration_s": s.duration, "tests": list(s.tests),
                         "churn_seconds": s.churn_seconds, "control_plane": CONTROL_PLANE},
            "detected": self.profile.to_dict(), "twin": self.plan.to_dict(),
            "ranking": self.ranking, "compare": self.compare, "service_scale": self.scale,
            "churn": self.churn, "mtu": self.mtu, "audit": self.audit, "seconds": round(self.seconds, 1),
        }  # fmt: skip


def stacks_of(plan: TwinPlan) -> list[str]:
    """The twin's stack, then each what-if's, once each."""
    out = [plan.stack]
    for w in plan.what_ifs:
        if w.stack not in out:
            out.append(w.stack)
    return out


def proxies_of(plan: TwinPlan) -> dict[str, str | None]:
    return {name: resolve(name).proxy for name in stacks_of(plan)}


def _proxies(plan: TwinPlan) -> tuple[str, ...]:
    """The service proxies the twin and its what-ifs run, once each."""
    return tuple(p for p in dict.fromkeys(proxies_of(plan).values()) if p)


def _compare_settings(plan: TwinPlan, settings: MeasureSettings) -> Any:
    from kubenetlab.scenarios.compare import CompareSettings

    return CompareSettings(tuple(stacks_of(plan)), settings.tests, settings.repeats,
                           settings.duration, control_plane=CONTROL_PLANE,
                           underlay_mtu=plan.node_mtu)  # fmt: skip


def _scale_settings(plan: TwinPlan, settings: MeasureSettings) -> Any | None:
    """service-scale at the twin's size, for each proxy involved, on the twin's routing."""
    from kubenetlab.scenarios.service_scale import ScaleSettings

    proxies = _proxies(plan)
    if not proxies:
        return None
    return ScaleSettings((plan.services,), proxies, settings.duration,
                         settings.repeats, resolve(plan.stack).routing, CONTROL_PLANE,
                         plan.replay)  # fmt: skip


def churn_rate(plan: TwinPlan, settings: MeasureSettings) -> float | None:
    """The cluster's endpoint churn, at least one change per window (a slower rate would
    measure a quiet window twice)."""
    if plan.churn_per_second is None or not settings.churn_seconds:
        return None
    return round(max(plan.churn_per_second, 1 / settings.churn_seconds), 3)


def _churn_settings(plan: TwinPlan, settings: MeasureSettings, min_sync: str | None) -> Any | None:
    """churn for each proxy involved, at the twin's size, the cluster's rate and its
    kube-proxy's minSyncPeriod (its default when the cluster's is not known)."""
    from kubenetlab.controlplane.kubeproxy import min_sync_period
    from kubenetlab.scenarios.churn import ChurnSettings

    rate = churn_rate(plan, settings)
    proxies = _proxies(plan)
    if rate is None or not proxies:
        return None
    try:
        period = min_sync_period(min_sync or "1s")
    except UsageError:
        period = "1s"  # the cluster's value is not a Go duration kube-proxy 1.36 reads
    per = min(max(plan.endpoints_per_service, 1), 100)
    return ChurnSettings(proxies, (plan.services,), (rate,), (period,), settings.churn_seconds,
                         per)  # fmt: skip


MTU_SIZES = (8192,)  # larger than any pod MTU but jumbo: TCP segments, UDP fragments


def _mtu_settings(plan: TwinPlan, settings: MeasureSettings) -> Any | None:
    """scenario mtu over the twin's routing: the cluster's pod MTU (case "yours") beside
    the aligned one, on its node MTU."""
    from kubenetlab.scenarios.mtu import MtuSettings

    what_if = next((w for w in plan.what_ifs if w.name == "mtu"), None)
    if what_if is None or what_if.mtu is None:
        return None
    return MtuSettings((resolve(plan.stack).routing,), MTU_SIZES, settings.duration,
                       settings.repeats, ("aligned", "yours"), what_if.mtu["node"],
                       what_if.mtu["pod_now"])  # fmt: skip


def steps(plan: TwinPlan, settings: MeasureSettings, min_sync: str | None = None) -> int:
    from kubenetlab.scenarios import churn, compare, mtu, service_scale

    scale = _scale_settings(plan, settings)
    churned = _churn_settings(plan, settings, min_sync)
    sweep = _mtu_settings(plan, settings)
    return (compare.steps(_compare_settings(plan, settings))
            + (service_scale.steps(scale) if scale else 0)
            + (churn.steps(churned) if churned else 0)
            + (mtu.steps(sweep) if sweep else 0))  # fmt: skip


def check(plan: TwinPlan, settings: MeasureSettings) -> None:
    """Every setting the scenarios would refuse, refused before anything is built."""
    _compare_settings(plan, settings)
    _scale_settings(plan, settings)
    _churn_settings(plan, settings, None)
    _mtu_settings(plan, settings)


def run(found: Profile, plan: TwinPlan, settings: MeasureSettings,
        audit: Callable[[], dict[str, Any]] | None = None,
        on_step: Callable[[str], None] | None = None) -> Assessment:  # fmt: skip
    from kubenetlab.scenarios import churn, compare, mtu, service_scale

    started = time.monotonic()
    result = Assessment(found, plan, settings)
    result.audit = audit() if audit else None
    result.compare = compare.run_compare(_compare_settings(plan, settings), on_step).document()
    scale = _scale_settings(plan, settings)
    if scale is not None:
        result.scale = service_scale.run(scale, on_step).document()
    churned = _churn_settings(plan, settings, found.fact("kube-proxy minSyncPeriod"))
    if churned is not None:
        result.churn = churn.run(churned, on_step).document()
    sweep = _mtu_settings(plan, settings)
    if sweep is not None:
        result.mtu = mtu.run(sweep, on_step).document()
    result.ranking = ranking(plan, result.compare, result.scale, proxies_of(plan), result.mtu)
    result.seconds = time.monotonic() - started
    return result
