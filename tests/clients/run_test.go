//go:build clients

package clients

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clientTimeout bounds one run of a client. A turn takes a few seconds;
// Codex's fallback from WebSocket to HTTPS alone takes about eight.
const clientTimeout = 90 * time.Second

// clientRun is the outcome of one client run.
type clientRun struct {
	args    []string
	stdout  string
	stderr  string
	code    int
	elapsed time.Duration
}

func (r clientRun) String() string {
	return "$ " + strings.Join(r.args, " ") + "\nexit " + strconv.Itoa(r.code) + " after " +
		r.elapsed.Round(time.Millisecond).String() + "\n--- stdout\n" + r.stdout +
		"\n--- stderr\n" + lastLines(r.stderr, 80)
}

// runClient runs a client binary with exactly env (plus a minimal PATH,
// TERM and LANG), no standard input, in dir, under clientTimeout. The whole
// process group is killed when it ends, so no helper outlives the run.
func runClient(t *testing.T, dir string, env []string, bin string, args ...string) clientRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "TERM=dumb",
		"LANG=C.UTF-8",
	}, env...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	err := cmd.Run()
	res := clientRun{
		args: append([]string{bin}, args...), stdout: stdout.String(),
		stderr: stderr.String(), elapsed: time.Since(start),
	}
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("client did not finish within %v\n%s", clientTimeout, res)
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("running the client: %v\n%s", err, res)
	}
	t.Logf("%s exited %d after %v", args[0], res.code, res.elapsed.Round(time.Millisecond))
	return res
}

// mustSucceed fails t unless the run exited 0 and printed want.
func mustSucceed(t *testing.T, res clientRun, want string) {
	t.Helper()
	if res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Fatalf("expected exit 0 and %q on stdout\n%s", want, res)
	}
}

func lastLines(s string, max int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	return strings.Join(lines, "\n")
}

// mkdir makes a private directory.
func mkdir(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}
