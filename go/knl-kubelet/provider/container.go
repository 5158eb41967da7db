package provider

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// container is one container of a pod: a host process in the pod's network namespace,
// restarted as the pod's restartPolicy says.
type container struct {
	spec    corev1.Container
	argv    []string
	argvErr error
	logPath string
	cgroup  string // set before run: the cgroup v2 directory its process starts in, or ""

	mu       sync.Mutex
	state    corev1.ContainerState
	last     corev1.ContainerState
	restarts int32
	ready    bool
	proc     *os.Process
	stopping bool
	done     chan struct{} // closed when its run loop has ended
}

const (
	firstBackoff = time.Second
	maxBackoff   = 20 * time.Second
)

func newContainer(spec corev1.Container, images ImageMap, logPath string) *container {
	argv, err := images.Argv(&spec)
	c := &container{spec: spec, argv: argv, argvErr: err, logPath: logPath, done: make(chan struct{})}
	c.state.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	return c
}

// command builds the process: inside the pod's namespace through nsenter, or directly for a
// hostNetwork pod (the kubelet runs in the node's namespace).
func (c *container) command(netns string, env []string) (*exec.Cmd, error) {
	if c.argvErr != nil {
		return nil, c.argvErr
	}
	program, err := exec.LookPath(c.argv[0])
	if err != nil {
		return nil, fmt.Errorf("exec: %q: executable file not found in $PATH", c.argv[0])
	}
	argv := append([]string{program}, c.argv[1:]...)
	if netns != "" {
		argv = append([]string{"nsenter", "--net=/run/netns/" + netns, "--"}, argv...)
		if argv[0], err = exec.LookPath("nsenter"); err != nil {
			return nil, fmt.Errorf("nsenter not found: apt-get install util-linux")
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	if c.spec.WorkingDir != "" {
		cmd.Dir = c.spec.WorkingDir
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}

// run starts the process and restarts it per policy until stop; onChange is called after
// every state change.
func (c *container) run(netns string, env []string, policy corev1.RestartPolicy, onChange func()) {
	defer close(c.done)
	backoff := firstBackoff
	for {
		code, reason, message := c.once(netns, env, onChange)
		c.mu.Lock()
		now := metav1.Now()
		started := now
		if c.state.Running != nil {
			started = c.state.Running.StartedAt
		}
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, Message: message, StartedAt: started, FinishedAt: now,
		}}
		c.ready = false
		stopping := c.stopping
		restart := !stopping && (policy == corev1.RestartPolicyAlways ||
			(policy == corev1.RestartPolicyOnFailure && code != 0))
		if restart {
			c.last = c.state
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off %s restarting failed container %s", backoff, c.spec.Name),
			}}
		}
		c.mu.Unlock()
		onChange()
		if !restart || !c.sleep(backoff) {
			return
		}
		backoff = min(backoff*2, maxBackoff)
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
	}
}

// once runs the process to its end: exit code, reason and message as a kubelet reports them.
func (c *container) once(netns string, env []string, onChange func()) (int32, string, string) {
	cmd, err := c.command(netns, env)
	release := func() {}
	if err == nil {
		release, err = intoCgroup(cmd, c.cgroup)
	}
	if err == nil {
		var log *os.File
		log, err = os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			defer log.Close()
			cmd.Stdout, cmd.Stderr = log, log
			err = cmd.Start()
		}
		release()
	}
	if err != nil {
		return 128, "StartError", err.Error()
	}
	c.mu.Lock()
	c.proc = cmd.Process
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	stopping := c.stopping
	c.mu.Unlock()
	if stopping { // stop arrived while it started
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	onChange()
	err = cmd.Wait()
	c.mu.Lock()
	c.proc = nil
	c.mu.Unlock()
	code := int32(cmd.ProcessState.ExitCode())
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	if code == 0 {
		return 0, "Completed", ""
	}
	if err != nil && code < 0 {
		return 128, "Error", err.Error()
	}
	return code, "Error", ""
}

// sleep waits d unless the container is being stopped (false then).
func (c *container) sleep(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// signal sends sig to the container's process group, if it runs.
func (c *container) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		_ = syscall.Kill(-c.proc.Pid, sig)
	}
}

// stop ends the container: SIGTERM, then SIGKILL after grace.
func (c *container) stop(grace time.Duration) {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	c.signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(grace):
	}
	c.signal(syscall.SIGKILL)
	<-c.done
}

func (c *container) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	started := c.state.Running != nil
	return corev1.ContainerStatus{
		Name:                 c.spec.Name,
		Image:                c.spec.Image,
		ImageID:              "kubenetlab-image-map://" + c.spec.Image,
		ContainerID:          fmt.Sprintf("knl://%s", c.spec.Name),
		State:                *c.state.DeepCopy(),
		LastTerminationState: *c.last.DeepCopy(),
		RestartCount:         c.restarts,
		Ready:                c.ready && started,
		Started:              &started,
	}
}

func (c *container) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Running != nil
}

func (c *container) setReady(ready bool) (changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = c.ready != ready
	c.ready = ready
	return changed
}
