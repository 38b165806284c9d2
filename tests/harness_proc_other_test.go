//go:build !linux

package tests

import "os/exec"

// bindToTestProcess does nothing where the kernel offers no parent-death
// signal; the harness's cleanups stop every instance on a normal exit.
func bindToTestProcess(*exec.Cmd) {}
