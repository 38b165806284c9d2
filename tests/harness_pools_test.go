package tests

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/engine"
)

// pooledAccount is an OAuth credential a pool test added, with its real
// tokens: the fake upstream sees the access token when latchkey injects it.
type pooledAccount struct {
	name, access, refresh string
}

// poolAPI drives credentials, pools and their bindings of one instance
// through the REST API. Answers decode into the engine's types, so a shape
// that drifts from what the engine means fails here too.
type poolAPI struct {
	inst *instance
}

// testTokenURL is a token URL on a host that no test dials, so that no
// refresh ever leaves the proxy; each test gets its own host.
func testTokenURL() string {
	return "https://auth-" + newID() + ".pools.test/oauth/token"
}

// addAccount adds an OAuth credential with fresh real tokens.
func (p poolAPI) addAccount(t *testing.T, prefix string) pooledAccount {
	t.Helper()
	a := pooledAccount{
		name: prefix + "-" + newID(), access: newSecret(prefix + "-at"),
		refresh: newSecret(prefix + "-rt"),
	}
	p.inst.mustAPI(t, http.MethodPost, "/api/credentials", map[string]any{
		"name": a.name, "type": "oauth", "access_token": a.access,
		"refresh_token": a.refresh, "token_url": testTokenURL(), "expires_in": 3600,
	}, http.StatusCreated, nil)
	return a
}

// create creates a pool of the accounts, in order.
func (p poolAPI) create(t *testing.T, name string, members ...pooledAccount) engine.Pool {
	t.Helper()
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.name
	}
	var out engine.Pool
	p.inst.mustAPI(t, http.MethodPost, "/api/pools",
		map[string]any{"name": name, "members": names}, http.StatusCreated, &out)
	return out
}

// status returns a pool's live status.
func (p poolAPI) status(t *testing.T, name string) engine.PoolStatus {
	t.Helper()
	var st engine.PoolStatus
	p.inst.mustAPI(t, http.MethodGet, "/api/pools/"+name, nil, http.StatusOK, &st)
	return st
}

// rotate rotates a pool.
func (p poolAPI) rotate(t *testing.T, name string) engine.RotateResult {
	t.Helper()
	var res engine.RotateResult
	p.inst.mustAPI(t, http.MethodPost, "/api/pools/"+name+"/rotate", nil, http.StatusOK, &res)
	return res
}

// phantom returns the OAuth phantoms of a pool or OAuth credential.
func (p poolAPI) phantom(t *testing.T, name string) engine.Phantom {
	t.Helper()
	var ph engine.Phantom
	p.inst.mustAPI(t, http.MethodGet, "/api/phantom/"+name, nil, http.StatusOK, &ph)
	if ph.AccessToken == "" || ph.RefreshToken == "" || strings.Count(ph.AccessToken, ".") != 2 {
		t.Fatalf("GET /api/phantom/%s: expected a JWT access phantom and a refresh phantom, "+
			"saw %+v", name, ph)
	}
	return ph
}

// activeCount counts the members a status marks active, and checks that
// they agree with its "active" field.
func activeCount(st engine.PoolStatus) int {
	n := 0
	for _, m := range st.Members {
		if m.Active {
			n++
			if m.Credential != st.Active {
				return -1
			}
		}
	}
	return n
}

// raceEnabled reports whether this test binary runs under the race
// detector.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// raceBinary returns a latchkey built with the race detector, so that a
// concurrency test finds races in the server and not only in itself:
// $LATCHKEY_RACE_BIN, or a build of ./xcaddy with -race into t's temporary
// directory (the go command caches all but the link). It returns "" when
// this test binary is not race-enabled.
func raceBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled() {
		return ""
	}
	if bin := os.Getenv("LATCHKEY_RACE_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatalf("LATCHKEY_RACE_BIN: %v", err)
		}
		return abs
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "latchkey-race")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-race", "-o", bin, "./xcaddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building latchkey with -race: %v\n%s", err, out)
	}
	return bin
}

// newInstanceOf starts an instance owned by t that runs bin instead of the
// binary under test. The harness reads latchkeyBin when it starts the
// process, so it is swapped only for the start; the package's tests do
// not run in parallel.
func newInstanceOf(t *testing.T, bin string) *instance {
	t.Helper()
	saved := latchkeyBin
	latchkeyBin = bin
	defer func() { latchkeyBin = saved }()
	return newInstance(t, instanceOptions{comment: "runs " + bin})
}

// assertNoDataRace fails t if the race detector reported anything in the
// instance's log.
func assertNoDataRace(t *testing.T, inst *instance) {
	t.Helper()
	log := inst.logTail(0, 1<<20)
	if i := strings.Index(log, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("the race detector reported a data race in latchkey:\n%s",
			log[i:min(len(log), i+16<<10)])
	}
}
