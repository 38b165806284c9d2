//go:build linux

package tests

import (
	"os/exec"
	"syscall"
)

// bindToTestProcess makes the kernel kill cmd if the test binary dies
// first (a go test timeout, say), so no latchkey process outlives the run.
// The signal follows the OS thread that started cmd; Go keeps its threads
// alive unless a goroutine exits while locked to one, which the tests never
// do.
func bindToTestProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
