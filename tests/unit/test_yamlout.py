"""YAML that Go programs read as kubenetlab meant it."""

from __future__ import annotations

import yaml

from kubenetlab import yamlout
from kubenetlab.cluster import workload


def test_dry_run_yaml_keeps_hex_run_ids_strings_for_go_readers() -> None:
    """A run id such as 8576e5 is a string to PyYAML and the number 857,600,000 to
    kubectl's YAML reader: `--dry-run | kubectl apply -f -` broke on one run in ~16."""
    plan = workload.Plan.new("knl", "img", "a", "b", run_id="8576e5")
    text = yamlout.dump_all(workload.manifests(plan))
    assert f"{workload.RUN_LABEL}: '8576e5'" in text
    assert list(yaml.safe_load_all(text)) == workload.manifests(plan)  # same objects back
    for number in ("123456", "1e5", "0x1f", ".5", "-3.0e-2", ".inf"):
        assert yamlout.dump({"v": number}) == f"v: '{number}'\n"
    for text_ in ("abc123", "e5", "1.2.3", "knl-8576e5"):
        assert yamlout.dump({"v": text_}) == f"v: {text_}\n"
