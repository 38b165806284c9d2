//go:build clients

package clients

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

// Set by TestMain before any test runs.
var (
	// latchkeyBin is the binary under test.
	latchkeyBin string

	// ca signs the fake upstream's certificate.
	ca *testCA
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	scratch, err := os.MkdirTemp("", "lkc-main-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(scratch)
	if latchkeyBin, err = findLatchkey(scratch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if ca, err = newTestCA(scratch); err != nil {
		fmt.Fprintln(os.Stderr, "making the test CA:", err)
		return 1
	}
	return m.Run()
}

// findLatchkey returns $LATCHKEY_BIN or builds ./xcaddy into dir.
func findLatchkey(dir string) (string, error) {
	if bin := os.Getenv("LATCHKEY_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", fmt.Errorf("LATCHKEY_BIN: %v", err)
		}
		return abs, nil
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("LATCHKEY_BIN is not set and the module root is unknown")
	}
	bin := filepath.Join(dir, "latchkey")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./xcaddy")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building latchkey: %v\n%s", err, out)
	}
	return bin, nil
}

// clientBin returns the client binary named by env, failing t when it is
// not set (a client suite that skips would pass without testing anything)
// or, when $<NAME>_VERSION is set as make does, when its --version does not
// name that version.
func clientBin(t *testing.T, env, install string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		t.Fatalf("%s is not set: run `make test-clients`, or install %s with npm and point "+
			"%s at its binary", env, install, env)
	}
	want := os.Getenv(strings.TrimSuffix(env, "_BIN") + "_VERSION")
	if err, ok := checkedBins.Load(bin); ok {
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
	err := checkVersion(bin, want)
	checkedBins.Store(bin, err)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// checkedBins caches checkVersion's verdict per binary.
var checkedBins sync.Map

// checkVersion runs bin --version in an empty home, so that nothing is
// written to the user's, and checks that it names want.
func checkVersion(bin, want string) error {
	if _, err := os.Stat(bin); err != nil {
		return err
	}
	if want == "" {
		return nil
	}
	home, err := os.MkdirTemp("", "lkc-version-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home,
		"CODEX_HOME=" + home,
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		return fmt.Errorf("%s --version: expected %s, saw %q (%v)", bin, want,
			strings.TrimSpace(string(out)), err)
	}
	return nil
}

// newFake starts a fake upstream for t.
func newFake(t *testing.T) *fake {
	f := startFake(ca)
	t.Cleanup(func() {
		if testing.Verbose() && !t.Failed() {
			t.Logf("fake upstream saw:\n%s", f.summary())
		}
		f.close()
	})
	return f
}
