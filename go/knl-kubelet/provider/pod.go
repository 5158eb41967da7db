package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pod is a Pod bound to this node: its namespace, address and containers.
type pod struct {
	spec       *corev1.Pod
	netns      string // "" for hostNetwork: the node's own namespace
	cgroup     string // the socket-LB cgroup its processes start in (eBPF proxy), or ""
	ip, hostIP string
	started    metav1.Time
	containers []*container
	cancel     context.CancelFunc

	mu      sync.Mutex
	stopped bool

	// notifying: a status is read and handed to virtual-kubelet in one step, so an older
	// status (running, not yet ready) never arrives after a newer one and stays the last
	notifying sync.Mutex
}

func podKey(namespace, name string) string { return namespace + "/" + name }

func (p *pod) env(c *corev1.Container) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOSTNAME=" + p.spec.Name,
		"KUBERNETES_SERVICE_HOST=" + os.Getenv("KNL_KUBERNETES_SERVICE_HOST"),
		"KUBERNETES_SERVICE_PORT=443",
	}
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value) // valueFrom is resolved by the pod controller
	}
	return env
}

// start runs every container and its probes; onChange is called on each status change.
func (p *pod) start(ctx context.Context, onChange func()) {
	ctx, p.cancel = context.WithCancel(ctx)
	for i := range p.containers {
		c := p.containers[i]
		c.cgroup = p.cgroup
		go c.run(p.netns, p.env(&c.spec), p.spec.Spec.RestartPolicy, onChange)
		if probe := c.spec.ReadinessProbe; probe != nil {
			go p.prober(probe, &c.spec).watch(ctx, func(ok bool) {
				if c.setReady(ok && c.running()) {
					onChange()
				}
			})
		} else {
			go p.readyWhenRunning(ctx, c, onChange)
		}
		if probe := c.spec.LivenessProbe; probe != nil {
			go p.prober(probe, &c.spec).watch(ctx, func(ok bool) {
				if !ok && c.running() { // the kubelet kills it; the restart policy decides
					c.signal(syscall.SIGKILL)
				}
			})
		}
	}
}

func (p *pod) prober(probe *corev1.Probe, c *corev1.Container) prober {
	return prober{probe: probe, netns: p.netns, podIP: p.ip, ports: c.Ports}
}

// readyWhenRunning: without a readiness probe a container is ready while it runs.
func (p *pod) readyWhenRunning(ctx context.Context, c *container, onChange func()) {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		if c.setReady(c.running()) {
			onChange()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// stop ends every container (SIGTERM, SIGKILL after the grace period).
func (p *pod) stop(grace time.Duration) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	var wg sync.WaitGroup
	for _, c := range p.containers {
		wg.Add(1)
		go func(c *container) { defer wg.Done(); c.stop(grace) }(c)
	}
	wg.Wait()
}

// status is the PodStatus a kubelet would report now.
func (p *pod) status() corev1.PodStatus {
	statuses := make([]corev1.ContainerStatus, 0, len(p.containers))
	ready, running, terminated, failed := true, false, 0, false
	for _, c := range p.containers {
		s := c.status()
		statuses = append(statuses, s)
		ready = ready && s.Ready
		switch {
		case s.State.Running != nil:
			running = true
		case s.State.Terminated != nil:
			terminated++
			failed = failed || s.State.Terminated.ExitCode != 0
		case s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff":
			running = true // it will run again
		}
	}
	phase := corev1.PodPending
	switch {
	case terminated == len(p.containers) && failed:
		phase = corev1.PodFailed
	case terminated == len(p.containers):
		phase = corev1.PodSucceeded
	case running || terminated > 0:
		phase = corev1.PodRunning
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: status, LastTransitionTime: now}
	}
	st := corev1.PodStatus{
		Phase: phase,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, true), cond(corev1.PodInitialized, true),
			cond(corev1.ContainersReady, ready), cond(corev1.PodReady, ready),
		},
		HostIP:            p.hostIP,
		HostIPs:           []corev1.HostIP{{IP: p.hostIP}},
		PodIP:             p.ip,
		PodIPs:            []corev1.PodIP{{IP: p.ip}},
		StartTime:         &p.started,
		ContainerStatuses: statuses,
		QOSClass:          corev1.PodQOSBestEffort,
	}
	return st
}

// logPath is where a container's output goes (one file, appended across restarts).
func logPath(stateDir string, spec *corev1.Pod, container string) string {
	return filepath.Join(stateDir, fmt.Sprintf("%s_%s_%s", spec.Namespace, spec.Name, spec.UID), container+".log")
}
