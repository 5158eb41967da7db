// Package provider is the virtual-kubelet provider of a kubenetlab lab node: each Pod is a
// network namespace made by kubenetlab's own topology code (its pod-network server),
// each container a host process inside it, started from the lab's image map.
package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	utilexec "k8s.io/utils/exec"
)

// Config is what the provider needs to know about its node and lab.
type Config struct {
	Node, NodeIP, Lab, StateDir string
	Images                      ImageMap
	PodNet                      string // Unix socket of the lab's pod-network server
	// Finalize removes a deleted pod from the API once its containers have stopped, as a
	// kubelet's status manager does (a grace-0 delete with the pod's UID as precondition).
	Finalize func(ctx context.Context, namespace, name string, uid types.UID) error
}

// Provider runs the node's pods.
type Provider struct {
	cfg    Config
	mu     sync.Mutex
	pods   map[string]*pod
	notify func(*corev1.Pod)
}

// New makes a provider for one node.
func New(cfg Config) *Provider {
	return &Provider{cfg: cfg, pods: map[string]*pod{}, notify: func(*corev1.Pod) {}}
}

// NotifyPods registers virtual-kubelet's callback for asynchronous status changes.
func (p *Provider) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
}

func (p *Provider) changed(pd *pod) {
	pd.notifying.Lock()
	defer pd.notifying.Unlock()
	out := pd.spec.DeepCopy()
	out.Status = pd.status()
	p.mu.Lock()
	cb := p.notify
	p.mu.Unlock()
	cb(out)
}

type podNetwork struct {
	Netns  string `json:"netns"`
	IP     string `json:"ip"`
	Cgroup string `json:"cgroup"` // the socket-LB cgroup of an eBPF-proxy lab, or ""
}

// network makes the pod's namespace (or, for hostNetwork, uses the node's).
func (p *Provider) network(ctx context.Context, spec *corev1.Pod) (podNetwork, error) {
	if spec.Spec.HostNetwork {
		return podNetwork{IP: p.cfg.NodeIP}, nil
	}
	var n podNetwork
	err := p.podNet(ctx, map[string]string{
		"action": "add", "node": p.cfg.Node, "pod": podKey(spec.Namespace, spec.Name), "uid": string(spec.UID),
	}, &n)
	return n, err
}

func (p *Provider) removeNetwork(spec *corev1.Pod) {
	if spec.Spec.HostNetwork {
		return
	}
	req := map[string]string{"action": "del", "uid": string(spec.UID)}
	if err := p.podNet(context.Background(), req, nil); err != nil {
		fmt.Fprintf(os.Stderr, "knl-kubelet: removing %s's namespace: %v\n", spec.Name, err)
	}
}

// podNet asks the lab's pod-network server: one JSON line each way.
func (p *Provider) podNet(ctx context.Context, request map[string]string, answer any) error {
	if p.cfg.PodNet == "" {
		return fmt.Errorf("no --podnet-socket: pods need the lab's pod-network server")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", p.cfg.PodNet)
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := json.NewEncoder(conn).Encode(request); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	var reply map[string]any
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	if msg, ok := reply["error"]; ok {
		return fmt.Errorf("%v", msg)
	}
	if answer == nil {
		return nil
	}
	data, _ := json.Marshal(reply)
	return json.Unmarshal(data, answer)
}

// CreatePod makes the pod's namespace and starts its containers.
func (p *Provider) CreatePod(ctx context.Context, spec *corev1.Pod) error {
	key := podKey(spec.Namespace, spec.Name)
	p.mu.Lock()
	_, exists := p.pods[key]
	p.mu.Unlock()
	if exists {
		return nil
	}
	n, err := p.network(ctx, spec)
	if err != nil {
		return err
	}
	pd := &pod{spec: spec.DeepCopy(), netns: n.Netns, cgroup: n.Cgroup, ip: n.IP, hostIP: p.cfg.NodeIP, started: metav1.Now()}
	dir := filepath.Dir(logPath(p.cfg.StateDir, spec, "x"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range spec.Spec.Containers {
		pd.containers = append(pd.containers, newContainer(c, p.cfg.Images, logPath(p.cfg.StateDir, spec, c.Name)))
	}
	p.mu.Lock()
	p.pods[key] = pd
	p.mu.Unlock()
	pd.start(context.Background(), func() { p.changed(pd) })
	return nil
}

// UpdatePod: a running pod's spec changes are not applied (as with a kubelet, most fields
// are immutable; the rest, such as images, are not in the lab's model).
func (p *Provider) UpdatePod(context.Context, *corev1.Pod) error { return nil }

// DeletePod ends the containers and removes the namespace, then reports the terminal status.
func (p *Provider) DeletePod(_ context.Context, spec *corev1.Pod) error {
	key := podKey(spec.Namespace, spec.Name)
	p.mu.Lock()
	pd, ok := p.pods[key]
	p.mu.Unlock()
	if !ok {
		return errdefs.NotFoundf("pod %s is not on this node", key)
	}
	grace := 30 * time.Second
	if s := spec.DeletionGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	} else if s := spec.Spec.TerminationGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	pd.stop(grace)
	p.removeNetwork(pd.spec)
	p.mu.Lock()
	delete(p.pods, key)
	p.mu.Unlock()
	p.changed(pd)
	if p.cfg.Finalize != nil && spec.DeletionTimestamp != nil {
		go func() { // not in the pod controller's worker: it would wait for this delete
			if err := p.cfg.Finalize(context.Background(), spec.Namespace, spec.Name, spec.UID); err != nil {
				fmt.Fprintf(os.Stderr, "knl-kubelet: removing pod %s from the API: %v\n", key, err)
			}
		}()
	}
	return nil
}

func (p *Provider) get(namespace, name string) (*pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pd, ok := p.pods[podKey(namespace, name)]
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return pd, nil
}

// GetPod is the pod with its current status.
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	pd, err := p.get(namespace, name)
	if err != nil {
		return nil, err
	}
	out := pd.spec.DeepCopy()
	out.Status = pd.status()
	return out, nil
}

// GetPodStatus is the pod's current status.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	out, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &out.Status, nil
}

// GetPods lists the node's pods.
func (p *Provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	keys := make([][2]string, 0, len(p.pods))
	for _, pd := range p.pods {
		keys = append(keys, [2]string{pd.spec.Namespace, pd.spec.Name})
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(keys))
	for _, k := range keys {
		if pd, err := p.GetPod(ctx, k[0], k[1]); err == nil {
			out = append(out, pd)
		}
	}
	return out, nil
}

func (p *Provider) container(namespace, name, container string) (*pod, *container, error) {
	pd, err := p.get(namespace, name)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range pd.containers {
		if c.spec.Name == container || container == "" {
			return pd, c, nil
		}
	}
	return nil, nil, errdefs.NotFoundf("pod %s/%s has no container %q", namespace, name, container)
}

// GetContainerLogs serves `kubectl logs` (tailLines, limitBytes, -f).
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, name, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	_, c, err := p.container(namespace, name, containerName)
	if err != nil {
		return nil, err
	}
	return openLog(ctx, c, opts)
}

// RunInContainer serves `kubectl exec`: the command runs in the pod's network namespace
// with the client's stdin, stdout and stderr (no TTY: the lab has no container runtime).
func (p *Provider) RunInContainer(ctx context.Context, namespace, name, containerName string, cmd []string, attach api.AttachIO) error {
	pd, _, err := p.container(namespace, name, containerName)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		return errdefs.InvalidInput("no command")
	}
	argv := cmd
	if pd.netns != "" {
		argv = append([]string{"nsenter", "--net=/run/netns/" + pd.netns, "--"}, cmd...)
	}
	run := exec.CommandContext(ctx, argv[0], argv[1:]...)
	run.Env = pd.env(&pd.containers[0].spec)
	if in := attach.Stdin(); in != nil {
		run.Stdin = in
	}
	if out := attach.Stdout(); out != nil {
		defer out.Close()
		run.Stdout = out
	}
	if errw := attach.Stderr(); errw != nil {
		defer errw.Close()
		run.Stderr = errw
	}
	release, err := intoCgroup(run, pd.cgroup)
	if err != nil {
		return err
	}
	err = run.Start()
	release()
	if err == nil {
		err = run.Wait()
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return utilexec.CodeExitError{Err: ee, Code: ee.ExitCode()}
	}
	return err
}

// AttachToContainer is not supported: containers' stdin is not kept.
func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported by the lab's kubelet")
}

// PortForward serves `kubectl port-forward`: a connection from the node to the pod's port.
func (p *Provider) PortForward(ctx context.Context, namespace, name string, port int32, stream io.ReadWriteCloser) error {
	pd, err := p.get(namespace, name)
	if err != nil {
		return err
	}
	defer stream.Close()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(pd.ip, strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	<-done
	return nil
}

// GetStatsSummary: no per-pod resource accounting yet.
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errdefs.NotFound("stats are not collected by the lab's kubelet")
}

// GetMetricsResource: no resource metrics yet.
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errdefs.NotFound("metrics are not collected by the lab's kubelet")
}
