package provider

import (
	"os/exec"
	"syscall"
)

// intoCgroup makes cmd start inside the cgroup v2 directory dir (clone3 CLONE_INTO_CGROUP:
// the process is never outside it, so the lab's socket-LB programs see its first connect).
// The returned func closes the directory once cmd has started. An empty dir changes nothing.
func intoCgroup(cmd *exec.Cmd, dir string) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	return func() { _ = syscall.Close(fd) }, nil
}
