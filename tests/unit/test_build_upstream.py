"""scripts/build-upstream.sh when a module cannot be fetched: exit 3 with the fix, and
nothing half-built left where kubenetlab looks for binaries."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists(),
                    reason="needs Go (make setup needs it too)")  # fmt: skip
def test_a_module_the_proxy_does_not_serve_is_exit_3_and_leaves_nothing(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GOPROXY": "off",  # every module lookup fails, as an unserved module would
        "GOMODCACHE": str(tmp_path / "mod"),
        "GOCACHE": str(tmp_path / "cache"),
        "KNL_UPSTREAM_DIR": str(tmp_path / "out"),
    }
    out = subprocess.run(["bash", str(ROOT / "scripts" / "build-upstream.sh"), "etcd"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "building go.etcd.io/etcd/server/v3 failed" in out.stderr
    assert "rerun make setup" in out.stderr
    assert list((tmp_path / "out").iterdir()) == []  # no partial build in the cache
