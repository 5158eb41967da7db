"""`kubenetlab locality`: where the addresses a name resolves to are — the article's
"ensure your DNS resolves to IPs anchored in local data centers".

Each name is resolved (A and AAAA, with dnspython, through `--resolver` or the system's);
each address is mapped to a country offline with geoip2fast's bundled database (its
IPv4+IPv6 country file, built from MaxMind GeoLite2 Country; the build date is in the
output, and a country database of that age misplaces some re-assigned blocks), checked
against the allowed set (EEA by default) and, unless `--no-rtt`, timed with one TCP
connect to `--port` (a refused connection still measures the round trip).

This command sends DNS queries to the resolver and one TCP SYN to each address it is asked
about; nothing else. The tests run it inside a lab namespace against a lab DNS server, so
no packet leaves the machine there.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from kubenetlab.errors import EnvironmentProblem, UsageError

# The EU's 27 members and the three EEA-EFTA states (Iceland, Liechtenstein, Norway).
EEA = frozenset(
    ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
     "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO")
)  # fmt: skip
GEO_FILE = "geoip2fast-ipv6.dat.gz"  # geoip2fast's country file with IPv4 and IPv6
HOSTNAME = re.compile(r"^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+$")


@dataclass(frozen=True)
class Address:
    host: str
    address: str | None
    family: str  # A | AAAA | literal | -
    country: str | None  # ISO code; None when not public or not found
    country_name: str
    allowed: bool
    rtt_ms: float | None
    status: str  # pass | flag | NXDOMAIN | no address
    note: str = ""


def parse_allow(text: str) -> frozenset[str]:
    codes: set[str] = set()
    for item in (p.strip() for p in text.split(",")):
        if item.upper() == "EEA":
            codes |= EEA
        elif re.fullmatch(r"[A-Za-z]{2}", item):
            codes.add(item.upper())
        else:
            raise UsageError(f"--allow: {item!r} is neither EEA nor a two-letter country code")
    return frozenset(codes)


def check_host(name: str) -> None:
    try:
        ipaddress.ip_address(name)
        return
    except ValueError:
        pass
    if not HOSTNAME.match(name):
        raise UsageError(f"{name!r} is not a host name or an IP address")


@cache
def _geo() -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file=GEO_FILE)


def database_info() -> dict[str, str]:
    info = _geo().get_database_info()
    source = info.get("source_info", "")
    built = re.search(r"(\d{8})$", source)
    return {
        "source": source,
        "built": f"{built[1][:4]}-{built[1][4:6]}-{built[1][6:]}" if built else "unknown",
        "tool": "geoip2fast (offline, bundled data)",
    }


def country(address: str) -> tuple[str | None, str]:
    r = _geo().lookup(address)
    code = getattr(r, "country_code", "--")
    if not code or code == "--":
        return None, getattr(r, "country_name", "") or "not found"
    return code, r.country_name


def resolve(name: str, resolver: str | None, timeout: float) -> dict[str, list[str]] | None:
    """{"A": [...], "AAAA": [...]}, or None for NXDOMAIN. A resolver that does not answer
    is the environment's problem (exit 3), not the name's."""
    import dns.exception
    import dns.resolver

    res = dns.resolver.Resolver(configure=resolver is None)
    if resolver:
        res.nameservers = [resolver]
    res.lifetime = res.timeout = timeout
    out: dict[str, list[str]] = {}
    for rtype in ("A", "AAAA"):
        try:
            out[rtype] = [r.to_text() for r in res.resolve(name, rtype, search=False)]
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoAnswer:
            out[rtype] = []
        except dns.resolver.NoNameservers as exc:
            raise EnvironmentProblem(
                f"resolver {resolver or 'of this system'} gave no usable answer for {name} "
                f"({exc.msg.split(';')[0] if exc.msg else 'SERVFAIL or REFUSED'}); check --resolver"
            ) from None
        except dns.exception.Timeout:
            raise EnvironmentProblem(
                f"resolver {resolver or 'of this system'} did not answer within {timeout:g} s; "
                "check --resolver (an address that serves DNS on port 53)"
            ) from None
    return out


def rtt_ms(address: str, port: int, timeout: float) -> float | None:
    """One TCP connect: its round trip (a refusal is a round trip too), or None."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        started = time.perf_counter()
        try:
            s.connect((address, port))
        except ConnectionRefusedError:
            pass  # a RST came back: that is a round trip too
        except OSError:
            return None  # unreachable, filtered or timed out
        return round((time.perf_counter() - started) * 1000, 2)


def check(
    names: list[str], allow: frozenset[str], resolver: str | None, timeout: float,
    port: int | None,
) -> list[Address]:  # fmt: skip
    for name in names:
        check_host(name)
    rows: list[Address] = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            found: dict[str, list[str]] | None = {"literal": [name]}
        except ValueError:
            found = resolve(name, resolver, timeout)
        if found is None:
            rows.append(Address(name, None, "-", None, "", False, None, "NXDOMAIN",
                                "the name does not exist"))  # fmt: skip
            continue
        if not any(found.values()):
            rows.append(Address(name, None, "-", None, "", False, None, "no address",
                                "no A or AAAA record"))  # fmt: skip
            continue
        for family, addresses in found.items():
            for address in addresses:
                code, where = country(address)
                ok = code in allow
                note = "" if code else "not a public address, or not in the database"
                rtt = rtt_ms(address, port, timeout) if port else None
                rows.append(Address(name, address, family, code, where, ok, rtt,
                                    "pass" if ok else "flag", note))  # fmt: skip
    return rows


def to_dict(
    rows: list[Address], allow: frozenset[str], resolver: str | None, port: int | None
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "locality",
        "allowed": sorted(allow),
        "resolver": resolver or "system (/etc/resolv.conf)",
        "rtt": f"one TCP connect to port {port}" if port else None,
        "database": database_info(),
        "addresses": [asdict(r) for r in rows],
        "flagged": sum(1 for r in rows if r.status != "pass"),
    }
