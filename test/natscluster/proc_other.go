//go:build unix && !linux

package natscluster

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts each node in its own process group, so Stop can
// signal it and anything it started. Without a parent-death signal outside
// Linux, a killed test binary leaves its nodes running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
