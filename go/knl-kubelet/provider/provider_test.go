package provider

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
)

func TestArgvFollowsCommandAndArgs(t *testing.T) {
	m := ImageMap{{Glob: "python:*", Program: []string{"python3"}}, {Glob: "*", Program: []string{"sh"}}}
	cases := []struct {
		c    corev1.Container
		want string
	}{
		{corev1.Container{Image: "python:3.12", Args: []string{"-m", "http.server"}}, "python3 -m http.server"},
		{corev1.Container{Image: "python:3.12", Command: []string{"sleep"}, Args: []string{"1"}}, "sleep 1"},
		{corev1.Container{Image: "alpine"}, "sh"},
	}
	for _, tc := range cases {
		got, err := m.Argv(&tc.c)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("Argv(%v) = %v, %v; want %q", tc.c.Image, got, err, tc.want)
		}
	}
	if _, err := (ImageMap{}).Argv(&corev1.Container{Name: "c", Image: "nginx"}); err == nil ||
		!strings.Contains(err.Error(), "not in the lab's image map") {
		t.Errorf("an unmapped image without command: %v", err)
	}
}

func TestTailOffsetFindsTheLastLines(t *testing.T) {
	f := writeTemp(t, "a\nb\nc\n")
	if off := tailOffset(f, 2); off != 2 {
		t.Errorf("tail 2 starts at %d, want 2", off)
	}
	if off := tailOffset(f, 10); off != 0 {
		t.Errorf("tail 10 starts at %d, want 0", off)
	}
}

func TestAContainerRunsRestartsAndReportsItsExit(t *testing.T) {
	dir := t.TempDir()
	spec := corev1.Container{Name: "c", Image: "x", Command: []string{"sh", "-c", "echo hi; exit 3"}}
	c := newContainer(spec, nil, filepath.Join(dir, "c.log"))
	changes := make(chan struct{}, 100)
	go c.run("", []string{"PATH=" + os.Getenv("PATH")}, corev1.RestartPolicyNever, func() { changes <- struct{}{} })
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("container did not finish")
	}
	s := c.status()
	if s.State.Terminated == nil || s.State.Terminated.ExitCode != 3 || s.State.Terminated.Reason != "Error" {
		t.Fatalf("state %+v", s.State)
	}
	p := &pod{spec: &corev1.Pod{}, containers: []*container{c}}
	if phase := p.status().Phase; phase != corev1.PodFailed {
		t.Errorf("phase %s, want Failed", phase)
	}
	r, err := openLog(context.Background(), c, api.ContainerLogOpts{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	if string(data) != "hi\n" {
		t.Errorf("log %q", data)
	}
}

func TestAMissingProgramIsAStartError(t *testing.T) {
	spec := corev1.Container{Name: "c", Image: "x", Command: []string{"no-such-program-knl"}}
	c := newContainer(spec, nil, filepath.Join(t.TempDir(), "c.log"))
	go c.run("", nil, corev1.RestartPolicyOnFailure, func() {})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s := c.status(); s.LastTerminationState.Terminated != nil {
			term := s.LastTerminationState.Terminated
			if term.Reason != "StartError" || !strings.Contains(term.Message, "not found") {
				t.Fatalf("last termination %+v", term)
			}
			if s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" {
				t.Fatalf("state %+v", s.State)
			}
			c.stop(time.Second)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no StartError reported")
}

func writeTemp(t *testing.T, text string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestIntoCgroupLeavesCommandsAloneWithoutOneAndRefusesAMissingDirectory(t *testing.T) {
	cmd := exec.Command("true")
	release, err := intoCgroup(cmd, "")
	if err != nil || cmd.SysProcAttr != nil {
		t.Fatalf("no cgroup: want an untouched command, got %v %+v", err, cmd.SysProcAttr)
	}
	release()
	if _, err := intoCgroup(exec.Command("true"), "/nonexistent/knl-cgroup"); err == nil {
		t.Fatal("a missing cgroup directory must be an error, not a process outside it")
	}
}

// Status changes come from several goroutines (the container's, its readiness watcher's);
// virtual-kubelet keeps the last one it is handed. Each must be handed over in the order
// it was read, or a pod stays "running, not ready" for good (seen once in ~20 lab runs).
func TestTheLastStatusHandedOverIsTheNewest(t *testing.T) {
	p := New(Config{})
	var mu sync.Mutex
	last := map[string]*corev1.Pod{}
	p.NotifyPods(context.Background(), func(got *corev1.Pod) {
		time.Sleep(time.Duration(rand.Intn(150)) * time.Millisecond) // a busy virtual-kubelet
		mu.Lock()
		last[got.Name] = got
		mu.Unlock()
	})
	var pods []*pod
	for i := 0; i < 12; i++ {
		spec := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "c", Image: "x", Command: []string{"sleep", "30"}}}}}
		spec.Name = fmt.Sprintf("p%d", i)
		pd := &pod{spec: spec}
		pd.containers = []*container{newContainer(spec.Spec.Containers[0], nil, filepath.Join(t.TempDir(), "c.log"))}
		pd.start(context.Background(), func() { p.changed(pd) })
		pods = append(pods, pd)
	}
	defer func() {
		for _, pd := range pods {
			pd.stop(time.Second)
		}
	}()
	time.Sleep(2 * time.Second) // every container started and found ready, every hand-over done
	mu.Lock()
	defer mu.Unlock()
	for _, pd := range pods {
		got := last[pd.spec.Name]
		if got == nil || len(got.Status.ContainerStatuses) != 1 {
			t.Errorf("%s: no status handed over", pd.spec.Name)
		} else if !got.Status.ContainerStatuses[0].Ready {
			t.Errorf("%s: the last status handed over is an older one (running, not ready)", pd.spec.Name)
		}
	}
}
