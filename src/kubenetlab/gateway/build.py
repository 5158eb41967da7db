"""A lab's Gateway API objects → the nginx configuration its gateway runs (pure)."""

from __future__ import annotations

from kubenetlab.gateway import matching, nginx
from kubenetlab.gateway.model import GatewayConfig, parse
from kubenetlab.model import Lab


def config_of(lab: Lab) -> GatewayConfig:
    return parse(list(lab.routes), "routes")


def service_ports(lab: Lab) -> dict[str, set[int]]:
    return {svc.key: {p.port for p in svc.ports} for svc in lab.services}


def targets(lab: Lab) -> dict[tuple[str, int], nginx.Targets]:
    """Each Service port → its ClusterIP when a proxy runs, else its ready endpoints."""
    out = {}
    for svc in lab.services:
        for port in svc.ports:
            if lab.proxy:
                addresses = ((svc.cluster_ip, port.port),)
            else:
                addresses = tuple((e.ip, port.target_port) for e in svc.ready_endpoints())
            out[(svc.key, port.port)] = nginx.Targets(addresses)
    return out


def resolved(
    lab: Lab, config: GatewayConfig
) -> dict[tuple[str, int], list[matching.ResolvedBackend]]:
    ports = service_ports(lab)
    return {
        (route.key, i): matching.resolve(rule, route, config, ports)
        for route in config.routes
        for i, rule in enumerate(route.rules)
    }


def validate(lab: Lab) -> None:
    """The lab's routes parse, and its gateway can serve them (UsageError otherwise)."""
    nginx.check(config_of(lab))


def nginx_conf(lab: Lab, state_dir: str) -> str:
    config = config_of(lab)
    assert lab.gateway_ip is not None
    title = f"kubenetlab lab {lab.name}: gateway for " + ", ".join(
        f"HTTPRoute {r.key}" for r in config.routes
    )
    return nginx.render(
        config, str(lab.gateway_ip), state_dir, resolved(lab, config), targets(lab), title
    )


def listen_ports(lab: Lab) -> list[int]:
    return sorted({g.http_port for g in config_of(lab).gateways})
