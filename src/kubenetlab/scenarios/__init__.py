"""Scenarios: experiments that answer one question each, in one registry.

Adding one: a module here defining `SCENARIO` (see `base.py`), its report module under
`report/`, and one line below.
"""

from __future__ import annotations

from kubenetlab.scenarios import canary, churn, compare, convergence, etp, mtu, service_scale
from kubenetlab.scenarios.base import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        service_scale.SCENARIO,
        mtu.SCENARIO,
        canary.SCENARIO,
        compare.SCENARIO,
        convergence.SCENARIO,
        etp.SCENARIO,
        churn.SCENARIO,
    )
}
