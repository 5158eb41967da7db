"""The article's own `helm install` for Cilium 1.16.2, audited (`kubenetlab audit
--helm-command`)."""

from __future__ import annotations

from kubenetlab.claims import Claim, Evidence, Figure, Verdict

ARTICLE_COMMAND = (
    "helm install cilium cilium/cilium --version 1.16.2 --namespace kube-system "
    "--set tunnel=disabled --set autoDirectNodeRoutes=true --set kubeProxyReplacement=true "
    "--set loadBalancer.mode=dsr"
)


def judge(evidence: Evidence) -> Verdict:
    doc = evidence.get("audit") or {}
    findings = doc.get("findings", [])
    errors = [f for f in findings if f["severity"] == "error"]
    figures = [
        Figure(f"{f['severity']} {f['id']}", f["message"], f"kubenetlab audit ({f['reference']})")
        for f in findings
    ]
    corrected = next((c["corrected"] for c in doc.get("corrected_commands", [])), "")
    if errors:
        text = (
            f"The audit finds {len(errors)} errors in the command as the article prints it: "
            + "; ".join(f"{f['id']}: {f['message'].split(':')[0]}" for f in errors)
            + ". Deployed as written it does not give direct routing with DSR. "
            + (f"A command that does: {corrected}" if corrected else "")
        )
        return Verdict("not reproduced", text, figures)
    return Verdict("reproduced", "The audit finds no error in the command.", figures)


CLAIM = Claim(
    "helm-command",
    "The article's helm command deploys direct routing with DSR",
    ARTICLE_COMMAND.replace(" --", " \\ --"),
    ("audit",),
    judge,
)
