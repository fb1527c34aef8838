//go:build unix && !linux

package cluster

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts each component in its own process group, so Stop can
// signal it and anything it started. Without a parent-death signal outside
// Linux, a killed test binary leaves its cluster running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
