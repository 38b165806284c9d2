package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The harness state shared by every test of the package. TestMain sets the
// first three before any test runs; the shared instance starts on first use.
var (
	// latchkeyBin is the binary under test.
	latchkeyBin string

	// testPKI is the CA that signs the fake upstream's certificate.
	testPKI *pki

	// fakeUpstream is the TLS server every instance forwards to.
	fakeUpstream *upstream

	sharedOnce sync.Once
	shared     *instance
	sharedErr  error
)

// TestMain builds (or finds) the binary and starts the fake upstream once
// for the whole run, and stops the shared instance at the end.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	scratch, err := os.MkdirTemp("", "lk-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating scratch dir:", err)
		return 1
	}
	defer os.RemoveAll(scratch)

	if latchkeyBin, err = findBinary(scratch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if testPKI, err = newPKI(scratch); err != nil {
		fmt.Fprintln(os.Stderr, "creating test CA:", err)
		return 1
	}
	fakeUpstream = startUpstream(testPKI)
	defer fakeUpstream.close()

	code := m.Run()

	if shared != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "--- shared instance log (last lines):\n%s\n",
				shared.logTail(0, 120))
		}
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping shared instance:", err)
		}
		os.RemoveAll(shared.dir)
	}
	return code
}

// findBinary returns $LATCHKEY_BIN, or builds ./xcaddy of the module into
// dir.
func findBinary(dir string) (string, error) {
	if bin := os.Getenv("LATCHKEY_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", fmt.Errorf("LATCHKEY_BIN: %v", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("LATCHKEY_BIN: %v", err)
		}
		return abs, nil
	}

	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "latchkey")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./xcaddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building latchkey: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the module's go.mod, found through the
// go command, or the parent of this package as a fallback.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" &&
		gomod != os.DevNull {
		return filepath.Dir(gomod), nil
	}
	return filepath.Abs("..")
}

// sharedInstance returns the instance that scenarios which do not disturb
// each other use, starting it on first call. Each such test works with its
// own credential names, so their order does not matter.
func sharedInstance(t *testing.T) *instance {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = startInstance(instanceOptions{})
	})
	if sharedErr != nil {
		t.Fatalf("starting the shared latchkey instance: %v", sharedErr)
	}
	shared.showLogOnFailure(t)
	return shared
}
