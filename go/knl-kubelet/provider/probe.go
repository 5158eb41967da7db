package provider

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// prober runs a container's probe as the kubelet does: exec inside the container's
// namespace; HTTP GET and TCP from the node to the pod's IP (the kubelet's vantage point).
type prober struct {
	probe *corev1.Probe
	netns string
	podIP string
	ports []corev1.ContainerPort
}

// check runs the probe once.
func (p prober) check(ctx context.Context) error {
	timeout := time.Duration(max(p.probe.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := p.probe.ProbeHandler
	switch {
	case h.Exec != nil:
		argv := h.Exec.Command
		if len(argv) == 0 {
			return fmt.Errorf("exec probe without a command")
		}
		if p.netns != "" {
			argv = append([]string{"nsenter", "--net=/run/netns/" + p.netns, "--"}, argv...)
		}
		return exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
	case h.HTTPGet != nil:
		return p.httpGet(ctx, h.HTTPGet)
	case h.TCPSocket != nil:
		port, err := p.port(h.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = p.podIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.GRPC != nil:
		return fmt.Errorf("gRPC probes are not supported by the lab's kubelet")
	}
	return fmt.Errorf("probe has no handler")
}

func (p prober) httpGet(ctx context.Context, g *corev1.HTTPGetAction) error {
	port, err := p.port(g.Port)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = p.podIP
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), g.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 { // the kubelet's success range
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// port resolves a number or a named container port.
func (p prober) port(v intstr.IntOrString) (int, error) {
	if v.Type == intstr.Int {
		return v.IntValue(), nil
	}
	for _, cp := range p.ports {
		if cp.Name == v.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", v.StrVal)
}

// watch probes every periodSeconds after initialDelaySeconds and reports the result after
// each check once the kubelet's success or failure threshold is met, until ctx ends.
func (p prober) watch(ctx context.Context, report func(ok bool)) {
	period := time.Duration(max(p.probe.PeriodSeconds, 1)) * time.Second
	success, failure := max(p.probe.SuccessThreshold, 1), max(p.probe.FailureThreshold, 1)
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(p.probe.InitialDelaySeconds) * time.Second):
	}
	var oks, fails int32
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		if p.check(ctx) == nil {
			oks, fails = oks+1, 0
			if oks >= success {
				report(true)
			}
		} else {
			oks, fails = 0, fails+1
			if fails >= failure {
				report(false)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
