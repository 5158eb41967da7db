"""A ledger file that is valid JSON of the wrong shape (edited by hand, torn, another
version's) is a corrupt ledger — the one-line 'does not describe a lab' path — never a
KeyError traceback; the namespaces it lists are kept so `lab down` still removes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubenetlab.kernel import ledger


@pytest.mark.parametrize(
    "text",
    [
        '{"lab": {"name": "x"}}',
        "[1, 2]",
        '{"name": "x", "lab": 5}',
        '{"name": "x", "processes": [1]}',
        '{"name": 7}',
        '{"name": "x", "created_at": "yesterday", "netns": ["knl-x-node1", 3]}',
    ],
)
def test_wrong_shapes_are_a_corrupt_ledger(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "LEDGER_DIR", tmp_path)
    (tmp_path / "x.json").write_text(text)
    loaded = ledger.Ledger.load("x")
    assert loaded is not None and loaded.state == "corrupt" and loaded.lab == {}
    if "knl-x-node1" in text:
        assert loaded.netns == ["knl-x-node1"]
