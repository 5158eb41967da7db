"""Measuring the twin as it is and as it could be, in one run, with the scenarios the
rest of kubenetlab uses: `compare` over the twin's stack and every what-if's (pod → pod
RR, CRR and stream, CRR to a ClusterIP, RR to a NodePort; the upstream kube-proxy or the
API-fed eBPF proxy programming each lab), `service-scale` at the twin's Service count for
each service proxy involved (CRR to the first and the last Service, the time to program
them all) — and the audit of the cluster's own objects. Nothing here is new physics:
each figure is the scenario's, with its tool and CIs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubenetlab.assess.profile import Profile
from kubenetlab.assess.rank import ranking
from kubenetlab.assess.twin import TwinPlan
from kubenetlab.stacks import resolve

CONTROL_PLANE = "kubernetes"  # the real kube-proxy, as the cluster runs it


@dataclass(frozen=True)
class MeasureSettings:
    repeats: int = 3
    duration: float = 1.0
    tests: tuple[str, ...] = ("rr", "crr", "stream")


@dataclass
class Assessment:
    profile: Profile
    plan: TwinPlan
    settings: MeasureSettings
    compare: dict[str, Any] | None = None
    scale: dict[str, Any] | None = None
    audit: dict[str, Any] | None = None
    ranking: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "kind": "assess", "schema_version": 1, "measured": self.compare is not None,
            "settings": {"repeats": s.repeats, "duration_s": s.duration, "tests": list(s.tests),
                         "control_plane": CONTROL_PLANE},
            "detected": self.profile.to_dict(), "twin": self.plan.to_dict(),
            "ranking": self.ranking, "compare": self.compare, "service_scale": self.scale,
            "audit": self.audit, "seconds": round(self.seconds, 1),
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


def _compare_settings(plan: TwinPlan, settings: MeasureSettings) -> Any:
    from kubenetlab.scenarios.compare import CompareSettings

    return CompareSettings(tuple(stacks_of(plan)), settings.tests, settings.repeats,
                           settings.duration, control_plane=CONTROL_PLANE)  # fmt: skip


def _scale_settings(plan: TwinPlan, settings: MeasureSettings) -> Any | None:
    """service-scale at the twin's size, for each proxy involved, on the twin's routing."""
    from kubenetlab.scenarios.service_scale import ScaleSettings

    proxies = [p for p in dict.fromkeys(proxies_of(plan).values()) if p]
    if not proxies:
        return None
    return ScaleSettings((plan.services,), tuple(proxies), settings.duration,
                         settings.repeats, resolve(plan.stack).routing, CONTROL_PLANE)  # fmt: skip


def steps(plan: TwinPlan, settings: MeasureSettings) -> int:
    from kubenetlab.scenarios import compare, service_scale

    scale = _scale_settings(plan, settings)
    return compare.steps(_compare_settings(plan, settings)) + (
        service_scale.steps(scale) if scale else 0)  # fmt: skip


def check(plan: TwinPlan, settings: MeasureSettings) -> None:
    """Every setting the scenarios would refuse, refused before anything is built."""
    _compare_settings(plan, settings)
    _scale_settings(plan, settings)


def run(found: Profile, plan: TwinPlan, settings: MeasureSettings,
        audit: Callable[[], dict[str, Any]] | None = None,
        on_step: Callable[[str], None] | None = None) -> Assessment:  # fmt: skip
    from kubenetlab.scenarios import compare, service_scale

    started = time.monotonic()
    result = Assessment(found, plan, settings)
    result.audit = audit() if audit else None
    result.compare = compare.run_compare(_compare_settings(plan, settings), on_step).document()
    scale = _scale_settings(plan, settings)
    if scale is not None:
        result.scale = service_scale.run(scale, on_step).document()
    result.ranking = ranking(plan, result.compare, result.scale, proxies_of(plan))
    result.seconds = time.monotonic() - started
    return result
