"""locality: bad input is one line and exit 2, before any query is sent; --allow parsing."""

from __future__ import annotations

import pytest

from kubenetlab.cli import main
from kubenetlab.errors import UsageError
from kubenetlab.locality import EEA, parse_allow


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad..name"], "not a host name"),
        (["x.test", "--allow", "EUROPE"], "neither EEA nor a two-letter"),
        (["x.test", "--resolver", "dns.example"], "give the server's IP address"),
        (["x.test", "--timeout", "0"], "--timeout must be"),
        (["x.test", "--port", "70000"], "--port must be"),
        (["a" * 300], "not a host name"),
    ],
)
def test_bad_input(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["locality", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_allow_expands_eea_and_takes_codes() -> None:
    assert (
        len(EEA) == 30 and {"NO", "IS", "LI", "DE"} <= EEA and "GB" not in EEA and "CH" not in EEA
    )
    assert parse_allow("EEA,ch") == EEA | {"CH"}
    assert parse_allow("no, se") == {"NO", "SE"}
    with pytest.raises(UsageError):
        parse_allow("")
