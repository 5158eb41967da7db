"""Bad input through the real CLI: one line on stderr, exit 2, and nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubenetlab.errors import EnvironmentProblem
from kubenetlab.kernel import preflight


def _kernel_footprint() -> tuple[list[str], list[str]]:
    netns = sorted(os.listdir("/run/netns")) if Path("/run/netns").exists() else []
    ledgers = sorted(os.listdir("/run/kubenetlab")) if Path("/run/kubenetlab").exists() else []
    return netns, ledgers


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubenetlab", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("spec", "flags", "message"),
    [
        ("nodes: 2\ncolour: blue\n", [], "unknown key 'colour'"),
        ("pod_cidr: 10.244.0.0/99\n", [], "not an IPv4 CIDR"),
        ("service_cidr: 10.240.0.0/12\n", [], "overlaps"),
        ("nodes: 0\n", [], "at least one node"),
        ("pods_per_node: 300\n", [], "do not fit a /24"),
        ("nodes: [a, b, a]\n", [], "duplicate node name"),
        ("nodes: [1, 2\n", [], "invalid YAML"),
        ("nodes: 2\n", ["--nodes", "-1"], "at least one node"),
        ("nodes: 2\n", ["--profile", "geneve"], "unknown routing profile"),
        ("", [], "the lab spec is empty"),
    ],
)
def test_bad_spec_exits_2_with_one_line_and_creates_nothing(
    tmp_path: Path, spec: str, flags: list[str], message: str
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(spec)
    before = _kernel_footprint()
    result = _cli("lab", "up", "-f", str(path), "--name", "t-badspec", *flags)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _kernel_footprint() == before


def test_usage_errors_exit_2() -> None:
    assert _cli("lab", "frobnicate").returncode == 2
    assert _cli("lab", "down").returncode == 2  # neither NAME nor --all
    assert _cli("lab", "down", "x", "--all").returncode == 2


def test_dry_run_needs_no_root_and_creates_nothing() -> None:
    before = _kernel_footprint()
    result = _cli("lab", "up", "--dry-run", "--nodes", "2", "--pods-per-node", "1")
    assert result.returncode == 0
    assert "ip netns add knl-default-fabric" in result.stdout
    assert _kernel_footprint() == before


def test_not_root_is_exit_3_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(EnvironmentProblem) as info:
        preflight.require_root("lab up")
    assert info.value.exit_code == 3 and "sudo kubenetlab lab up" in info.value.message


def test_missing_kernel_option_and_tool_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "kernel_config", lambda: {"CONFIG_VXLAN": "y"})
    with pytest.raises(EnvironmentProblem, match="needs CONFIG_NET_IPIP"):
        preflight.require_kernel(("CONFIG_VXLAN", "CONFIG_NET_IPIP"), "routing profile 'ipip'")
    with pytest.raises(EnvironmentProblem, match="apt-get install -y knl-no-such-package"):
        preflight.require_tools([("knl-no-such-tool", "knl-no-such-package")])


def test_missing_measuring_tool_is_exit_3_with_the_apt_command() -> None:
    env = {**os.environ, "PATH": "/nonexistent"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubenetlab",
            "bench",
            "anylab",
            "--from",
            "a",
            "--to",
            "b",
            "--test",
            "stream",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 3
    assert result.stderr.strip().endswith("apt-get install -y iperf3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "--profiles", "nope"], "unknown profile 'nope'"),
        (["compare", "--tests", "rr,foo"], "unknown test 'foo'"),
        (["compare", "--repeats", "0"], "repeats must be 1-100"),
        (["bench", "x", "--from", "a", "--to", "b", "--duration", "0"], "duration must be"),
        (["bench", "nolab", "--from", "a", "--to", "b"], "no lab named 'nolab'"),
    ],
)
def test_bad_bench_and_compare_input_exits_2(args: list[str], message: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_help_says_each_default_once_and_names_the_lab_defaults() -> None:
    audit = subprocess.run([sys.executable, "-m", "kubenetlab", "audit", "--help"],
                           capture_output=True, text=True).stdout  # fmt: skip
    assert "(default: error) (default: error)" not in audit and "(default: error)" in audit
    up = subprocess.run([sys.executable, "-m", "kubenetlab", "lab", "up", "--help"],
                        capture_output=True, text=True).stdout  # fmt: skip
    flat = " ".join(up.split())
    assert "(default vxlan)" in flat and "(default iptables" in flat


def test_encapsulation_names_are_case_blind() -> None:
    out = subprocess.run([sys.executable, "-m", "kubenetlab", "mtu", "--underlay-mtu", "1500",
                          "--encap", "VXLAN", "-o", "json"], capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert '"pod_mtu": 1450' in out.stdout


def test_compare_labs_are_named_per_run_and_profiles_only_once() -> None:
    from kubenetlab.errors import UsageError
    from kubenetlab.scenarios.compare import CompareSettings, _lab_for, resolve_all

    name = _lab_for(resolve_all(("native",))[0]).name
    assert name == f"cmp-native-{os.getpid():x}"
    with pytest.raises(UsageError, match="given twice"):
        CompareSettings(profiles=("native", "native"))


@pytest.mark.parametrize("where", ["file", "/proc/x"])
def test_a_bad_report_dir_is_refused_before_measuring(tmp_path: Path, where: str) -> None:
    target = str(tmp_path / "a-file") if where == "file" else where
    if where == "file":
        Path(target).write_text("x")
    # scenario mtu would build labs and measure for a minute; refused at once instead
    out = subprocess.run([sys.executable, "-m", "kubenetlab", "scenario", "mtu", "--report",
                          target], capture_output=True, text=True, timeout=30)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert (
        out.stderr.count("\n") == 1 and "--report" in out.stderr and "Traceback" not in out.stderr
    )


def test_errors_name_the_flag_that_was_typed(tmp_path: Path) -> None:
    out = _cli("lab", "up", "--pods-per-node", "-3", "--dry-run")
    assert out.returncode == 2 and "--pods-per-node must not be negative" in out.stderr
    spec = tmp_path / "lab.yaml"
    spec.write_text("pods_per_node: -3\n")
    out = _cli("lab", "up", "-f", str(spec), "--dry-run")  # from the file: the spec key
    assert out.returncode == 2 and "error: pods_per_node must not be negative" in out.stderr


def test_no_color_is_taken_after_the_subcommand_too(tmp_path: Path) -> None:
    """FORCE_COLOR makes rich style a pipe, so the test can fail: with --no-color anywhere
    on the line there is no escape code at all (no colour, no bold)."""
    values = tmp_path / "values.yaml"
    values.write_text("tunnel: disabled\nkubeProxyReplacement: true\n")
    env = {**os.environ, "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)

    def audit(*flags: str) -> str:
        argv = [sys.executable, "-m", "kubenetlab", *flags]
        return subprocess.run(argv, capture_output=True, text=True, env=env).stdout

    assert "\x1b[" in audit("audit", str(values))  # styled without the flag
    assert "\x1b[" not in audit("audit", str(values), "--no-color")
    assert "\x1b[" not in audit("--no-color", "audit", str(values))


def test_audit_reads_a_fifo_as_lab_up_does(tmp_path: Path) -> None:
    """`audit -f <(kubectl get …)`: a FIFO is read once, bounded, not called missing."""
    import threading

    fifo = tmp_path / "dump"
    os.mkfifo(fifo)
    text = Path("examples/cluster-dump.yaml").read_text()
    writer = threading.Thread(target=lambda: fifo.write_text(text), daemon=True)
    writer.start()
    out = _cli("audit", "-f", str(fifo), "-o", "json")
    writer.join(timeout=10)
    assert out.returncode in (0, 1), out.stderr
    assert "no such file" not in out.stderr and '"inputs"' in out.stdout


@pytest.mark.parametrize("delay", [0.05, 0.2])
def test_sigint_while_starting_is_one_line_and_130(delay: float) -> None:
    """^C during the imports (the first half second): no traceback from whichever import
    it landed in (issue 23 item 11). A ^C before Python has run kubenetlab's first line
    is Python's own (a traceback of runpy alone): tried again, at most three times. The
    delay counts from Python catching SIGINT: before that the signal's default action
    ends the process (-2), which on a loaded machine outlasted 50 ms."""
    import signal
    import time

    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "kubenetlab", "lab", "up", "--dry-run"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        _wait_catching_sigint(proc.pid)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=30)[1]
        if proc.returncode == 0:  # it finished first: nothing to see on this machine
            return
        if proc.returncode == 130:
            break
        assert "/kubenetlab/" not in err, err  # interrupted in kubenetlab's own code
    assert proc.returncode == 130, err
    assert len(err.splitlines()) == 1 and "interrupted (SIGINT)" in err, err


def _wait_catching_sigint(pid: int, seconds: float = 10.0) -> None:
    """Until the process has a SIGINT handler (/proc/PID/status SigCgt, bit 2 − 1)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return  # gone already: the caller sees its exit
        caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt"))
        if int(caught, 16) & (1 << 1):
            return
        time.sleep(0.001)


def test_commands_outside_measuring_do_not_import_the_scenarios() -> None:
    """Importing every scenario module costs ~1 s per command; audit, proxy render, lab …
    build only the parsers they can be, while a typo still lists every command."""
    import subprocess
    import sys

    probe = (
        "import sys, runpy\n"
        "sys.argv = ['kubenetlab', 'audit', '--help']\n"
        "try:\n    runpy.run_module('kubenetlab', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('SCENARIOS' if 'kubenetlab.scenarios' in sys.modules else 'LIGHT', file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stderr.strip().endswith("LIGHT"), out.stderr
    typo = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "compar"], capture_output=True, text=True
    )
    assert typo.returncode == 2 and "'compare', 'scenario'" in typo.stderr
