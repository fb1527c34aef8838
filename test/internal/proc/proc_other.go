//go:build unix && !linux

package proc

import (
	"os/exec"
	"syscall"
)

// SysProcAttr puts each child in its own process group, so a harness can
// signal it and anything it started. Without a parent-death signal outside
// Linux, a killed test binary leaves its children running.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// Start starts cmd.
func Start(cmd *exec.Cmd) error { return cmd.Start() }
