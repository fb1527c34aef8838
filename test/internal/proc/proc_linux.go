package proc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// SysProcAttr puts each child in its own process group, so a harness can
// signal it and anything it started, and asks the kernel to SIGKILL it when
// the thread that started it dies: a test binary that is killed takes its
// children with it.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// The parent-death signal fires when the starting OS thread exits, not the
// process, and the Go runtime may retire threads. So every child is
// started from one goroutine locked to a thread that never exits.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// Start starts cmd (whose SysProcAttr is SysProcAttr()) from the spawner thread.
func Start(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawnReqs <- r
	return <-r.done
}
