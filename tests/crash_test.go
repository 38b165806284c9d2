package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash test kills latchkey with SIGKILL at seeded random moments of a
// refresh storm (concurrent refreshes of several OAuth credentials and of a
// pool, with pool rotates and credential creates beside them), restarts it
// on the same data directory, and checks SPEC invariant 3 (no rotated
// refresh token is lost, whatever crashes) and section 3 (rotated tokens are
// synced before the agent gets its answer; member health and the sticky
// pointer persist):
//
//   - the process starts again on the killed database and serves;
//   - every refresh latchkey sends after a restart presents a refresh token
//     the provider still accepts, and never one older than the newest whose
//     rotation an agent was told about (a 200 answer means "stored");
//   - every credential whose create was answered 201 exists, and the pool's
//     active member is the one the last answered rotate named, and it is the
//     member whose token the API sees next.
//
// The provider's refresh tokens are single-use, with one grace: an older
// token is accepted while no newer one was ever presented. A crash after
// the provider issued tokens and before latchkey stored them can only be
// survived that way, by any client; the test counts those ("window
// crashes") and still requires that no acknowledged rotation is rolled back.

// crashSeed returns LATCHKEY_CRASH_SEED or a new seed.
func crashSeed() uint64 {
	if s, err := strconv.ParseUint(os.Getenv("LATCHKEY_CRASH_SEED"), 10, 64); err == nil {
		return s
	}
	return uint64(time.Now().UnixNano())
}

// crashStormBounds bound one storm.
const (
	crashStandalone      = 6 // OAuth credentials refreshed on their own
	crashRefreshWorkers  = 3 // concurrent refreshers per credential
	crashRefreshesEach   = 2 // refreshes per refresher
	crashRotates         = 3 // pool rotates per storm, one after another
	crashCreates         = 3 // credential creates per storm, one after another
	crashStormDeadline   = 10 * time.Second
	crashRequestDeadline = 15 * time.Second
)

// crashWorld is the state the crash test keeps across lives.
type crashWorld struct {
	inst        *instance
	prov        *chaosProvider
	seen        *chaosReceived
	rng         *rand.Rand
	standalone  []string
	phantoms    map[string]chaosPhantoms
	pool        string
	poolMembers []string

	// ackLB is, per credential, the newest generation whose rotation an
	// agent was answered 200 for: latchkey must hold at least that.
	ackLB map[string]int

	// created are the credentials whose create was answered 201.
	created []string

	// active is the pool's expected active member, "" when a rotate was
	// in flight at the kill and either answer is acceptable.
	active string

	windowCrashes, acked int
}

func TestCrashDuringRefreshStormLosesNoRotatedToken(t *testing.T) {
	seed := crashSeed()
	iterations := 5
	if longProfile() {
		iterations = 50
	}
	iterations = envInt("LATCHKEY_CRASH_ITERATIONS", iterations)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("crash test seed %d (replay: LATCHKEY_CRASH_SEED=%d)", seed, seed)
		}
	})
	started := time.Now()

	w := &crashWorld{
		prov: newChaosProvider(t), seen: &chaosReceived{},
		rng: rand.New(rand.NewPCG(seed, 0x63726173)), phantoms: map[string]chaosPhantoms{},
		ackLB: map[string]int{}, pool: "crash-pool",
	}
	w.prov.reuseGrace = true
	w.prov.events = make(chan chaosEvent, 512)
	delays := rand.New(rand.NewPCG(seed, 0x64656c61))
	var delayMu sync.Mutex
	w.prov.answerDelay = func() time.Duration {
		delayMu.Lock()
		defer delayMu.Unlock()
		return time.Duration(delays.IntN(8000)) * time.Microsecond
	}
	w.inst = newChaosInstance(t, w.prov)

	for i := range crashStandalone {
		name := fmt.Sprintf("crash-s%d", i)
		w.standalone = append(w.standalone, name)
		w.phantoms[name] = addChaosOAuth(t, w.inst, w.prov, name)
	}
	for i := range 2 {
		name := fmt.Sprintf("crash-p%d", i)
		w.poolMembers = append(w.poolMembers, name)
		addChaosOAuth(t, w.inst, w.prov, name)
	}
	w.inst.mustAPI(t, http.MethodPost, "/api/pools",
		map[string]any{"name": w.pool, "members": w.poolMembers}, http.StatusCreated, nil)
	bindREST(t, w.inst, w.pool, chaosAPIHosts[0], "", "")
	var ph chaosPhantoms
	w.inst.mustAPI(t, http.MethodGet, "/api/phantom/"+w.pool, nil, http.StatusOK, &ph)
	w.phantoms[w.pool] = ph
	w.active = w.poolMembers[0]

	life := 0
	for iter := range iterations {
		life++
		w.prov.setLife(life)
		w.storm(t, iter)
		w.checkLife(t, life)
		if t.Failed() {
			t.FailNow()
		}
		from := w.inst.logSize()
		revive(t, w.inst)
		w.checkStartLog(t, iter, from)
		w.checkRevived(t, iter)
		if t.Failed() {
			t.FailNow()
		}
	}

	// One clean life: every credential refreshes once, sequentially, and
	// each refresh must be an accepted exchange of the token latchkey
	// holds.
	life++
	w.prov.setLife(life)
	client := agentClient(t, w.inst, true)
	ctx, cancel := context.WithTimeout(context.Background(), crashRequestDeadline)
	defer cancel()
	for _, name := range append(slices.Clone(w.standalone), w.pool) {
		resp, err := chaosRefresh(ctx, client, w.phantoms[name].RefreshToken, newID())
		if err != nil {
			t.Fatalf("final refresh of %s: %v", name, err)
		}
		w.seen.saw("final refresh of "+name, resp.header, resp.body)
		if resp.status != http.StatusOK {
			t.Errorf("final refresh of %s: expected 200, saw %d: %.300s", name, resp.status,
				resp.body)
		}
	}
	w.checkLife(t, life)
	w.seen.check(t)

	var rotations, graceUses, rejected int
	for _, name := range append(slices.Clone(w.standalone), w.poolMembers...) {
		r, g, x := w.prov.stats(name)
		rotations, graceUses, rejected = rotations+r, graceUses+g, rejected+x
	}
	t.Logf("crash test: seed %d, %d iterations, %d kill -9 survived, %d rotations accepted "+
		"by the provider (%d after a crash in the provider-to-disk window), %d refreshes "+
		"refused, %d acknowledged to agents, %d answers checked for leaks, %v",
		seed, iterations, iterations, rotations, graceUses, rejected, w.acked, w.seen.count,
		time.Since(started).Round(time.Millisecond))
	fmt.Fprintf(os.Stderr, "crash: seed=%d iterations=%d kills=%d rotations=%d window=%d "+
		"refused=%d lost=0\n", seed, iterations, iterations, rotations, graceUses, rejected)
}

// storm runs one life's storm and kills the process at the chosen moment.
func (w *crashWorld) storm(t *testing.T, iter int) {
	t.Helper()
	for drained := false; !drained; {
		select {
		case <-w.prov.events:
		default:
			drained = true
		}
	}

	// Where to kill: after the k-th refresh event of a kind (0: at once),
	// plus a jitter of up to 4 ms.
	kind := "answered"
	if w.rng.IntN(3) == 0 {
		kind = "received"
	}
	k := w.rng.IntN(crashStandalone + 5) // past the last event: after the storm
	jitter := time.Duration(w.rng.IntN(4000)) * time.Microsecond
	if w.rng.IntN(3) == 0 {
		jitter = time.Duration(w.rng.IntN(30)) * time.Millisecond
	}

	ctx, cancel := context.WithTimeout(context.Background(), crashRequestDeadline)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	acks := map[string]int{}
	var problems []string
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	// Refreshers: each credential's and the pool's.
	identities := append(slices.Clone(w.standalone), w.pool)
	for _, name := range identities {
		ph := w.phantoms[name]
		for range crashRefreshWorkers {
			client := agentClient(t, w.inst, w.rng.IntN(2) == 0)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range crashRefreshesEach {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := chaosRefresh(ctx, client, ph.RefreshToken, newID())
					if err != nil {
						return // the kill
					}
					w.seen.saw("refresh of "+name, resp.header, resp.body)
					if resp.status != http.StatusOK {
						problem("refresh of %s: expected 200, saw %d: %.300s", name,
							resp.status, resp.body)
						return
					}
					if !strings.Contains(resp.body, ph.RefreshToken) {
						problem("refresh of %s: expected the refresh phantom in the answer, "+
							"saw %.300s", name, resp.body)
					}
					if name == w.pool {
						continue // which member was refreshed is not the agent's to know
					}
					// One exchange per credential and life (the rest are
					// coalesced or answered from it), so the provider's
					// current generation is the one this answer stored.
					g := w.prov.latest(name)
					mu.Lock()
					acks[name] = max(acks[name], g)
					mu.Unlock()
				}
			}()
		}
	}

	// Rotates of the pool, one after another.
	var rotMu sync.Mutex
	rotInFlight := false
	lastTo := ""
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range crashRotates {
			select {
			case <-stop:
				return
			default:
			}
			rotMu.Lock()
			rotInFlight = true
			rotMu.Unlock()
			status, body, err := w.inst.api(http.MethodPost, "/api/pools/"+w.pool+"/rotate", nil)
			if err != nil {
				return // the kill; the rotate stays in flight
			}
			w.seen.saw("rotate", nil, string(body))
			var res struct {
				To string `json:"to"`
			}
			if status != http.StatusOK || !decodeInto(body, &res) || res.To == "" {
				problem("rotate: expected 200 with to, saw %d: %s", status, body)
				return
			}
			rotMu.Lock()
			rotInFlight, lastTo = false, res.To
			rotMu.Unlock()
		}
	}()

	// Creates, one after another.
	var createMu sync.Mutex
	var created []string
	createInFlight := ""
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := range crashCreates {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("crash-c%d-%d", iter, j)
			createMu.Lock()
			createInFlight = name
			createMu.Unlock()
			status, body, err := w.inst.api(http.MethodPost, "/api/credentials",
				map[string]string{"name": name, "value": chaosSecret("crash-create")})
			if err != nil {
				return
			}
			w.seen.saw("create", nil, string(body))
			if status != http.StatusCreated {
				problem("create %s: expected 201, saw %d: %s", name, status, body)
				return
			}
			createMu.Lock()
			created, createInFlight = append(created, name), ""
			createMu.Unlock()
		}
	}()

	// The killer: it waits for the chosen event, or for the storm to end
	// when fewer events came (coalesced refreshes make fewer exchanges).
	stormDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(stormDone)
	}()
	deadline := time.After(crashStormDeadline)
	for n := 0; n < k; {
		select {
		case ev := <-w.prov.events:
			if ev.kind == kind {
				n++
			}
		case <-stormDone:
			n = k
		case <-deadline:
			n = k
		}
	}
	if jitter > 0 {
		select {
		case <-time.After(jitter): // the chosen moment, not synchronisation
		case <-deadline:
		}
	}
	killNine(t, w.inst)
	close(stop)
	cancel()
	<-stormDone

	for _, p := range problems {
		t.Errorf("iteration %d: %s", iter, p)
	}
	for name, g := range acks {
		w.ackLB[name] = max(w.ackLB[name], g)
		w.acked++
	}
	w.created = append(w.created, created...)
	if createInFlight != "" {
		t.Logf("iteration %d: create of %s was in flight at the kill", iter, createInFlight)
	}
	switch {
	case rotInFlight:
		w.active = "" // either answer is acceptable; learnt after the restart
	case lastTo != "":
		w.active = lastTo
	}
	t.Logf("iteration %d: killed after %d %q events + %v; %d acknowledged credentials, "+
		"%d creates, rotate in flight %v", iter, k, kind, jitter, len(acks), len(created),
		rotInFlight)
}

// checkLife checks that every refresh latchkey sent to the provider during
// one life was accepted.
func (w *crashWorld) checkLife(t *testing.T, life int) {
	t.Helper()
	recs, _ := w.prov.recordsSince(0)
	for _, r := range recs {
		if r.life != life || !r.refresh {
			continue
		}
		if r.account == "" {
			t.Errorf("life %d: latchkey sent a refresh with a token the provider never "+
				"issued (status %d)", life, r.status)
			continue
		}
		if r.status != http.StatusOK {
			t.Errorf("life %d: refresh of %s presented generation %d while generation %d "+
				"was current: refused (a rotated refresh token was lost or rolled back)",
				life, r.account, r.presented, r.latest)
		}
		if r.grace {
			w.windowCrashes++
		}
	}
}

// checkStartLog fails t for a restart whose log reports an error of the
// database (the whole start is logged from offset from).
func (w *crashWorld) checkStartLog(t *testing.T, iter int, from int64) {
	t.Helper()
	for _, line := range strings.Split(w.inst.logTail(from, 400), "\n") {
		lower := strings.ToLower(line)
		if strings.Contains(lower, "panic") || (strings.Contains(line, `"level":"error"`) &&
			(strings.Contains(lower, "badger") || strings.Contains(lower, "store") ||
				strings.Contains(lower, "database") || strings.Contains(lower, "corrupt"))) {
			t.Errorf("iteration %d: restart after kill -9 logged a database error: %s",
				iter, line)
		}
	}
}

// checkRevived checks the restarted instance against what was acknowledged
// before the kill.
func (w *crashWorld) checkRevived(t *testing.T, iter int) {
	t.Helper()
	// Every acknowledged create is there.
	names := credentialNames(t, w.inst)
	for _, n := range append(slices.Clone(w.created), w.standalone...) {
		if !slices.Contains(names, n) {
			t.Errorf("iteration %d: credential %s (create answered 201) is missing after "+
				"kill -9", iter, n)
		}
	}

	var st chaosPoolStatus
	w.inst.mustAPI(t, http.MethodGet, "/api/pools/"+w.pool, nil, http.StatusOK, &st)
	if w.active != "" && st.Active != w.active {
		t.Errorf("iteration %d: pool active member after kill -9: expected %s (the last "+
			"answered rotate), saw %s", iter, w.active, st.Active)
	}
	w.active = st.Active

	// The member the REST API names is the one whose token the API sees.
	id := newID()
	ctx, cancel := context.WithTimeout(context.Background(), crashRequestDeadline)
	defer cancel()
	resp, err := chaosCall(ctx, agentClient(t, w.inst, true), chaosAPIHosts[0],
		w.phantoms[w.pool].AccessToken, id)
	if err != nil {
		t.Fatalf("iteration %d: request through the pool after kill -9: %v", iter, err)
	}
	w.seen.saw("pool request", resp.header, resp.body)
	recs := w.prov.recordsWithID(id)
	if resp.status != http.StatusOK || len(recs) != 1 {
		t.Fatalf("iteration %d: request through the pool: expected 200 and one upstream "+
			"request, saw %d and %d: %.300s", iter, resp.status, len(recs), resp.body)
	}
	if recs[0].account != st.Active {
		t.Errorf("iteration %d: GET /api/pools/%s says %s is active, but the API saw the "+
			"token of %q", iter, w.pool, st.Active, recs[0].account)
	}

	// No acknowledged rotation is rolled back: the generation whose access
	// token latchkey injects is the one it holds (both tokens rotate
	// together), and it is at least the newest one an agent was answered
	// for. checkLife then checks that the refresh token of that generation
	// is accepted.
	for _, name := range w.standalone {
		lb, ok := w.ackLB[name]
		if !ok {
			continue
		}
		if held := w.heldGeneration(t, name); held < lb {
			t.Errorf("iteration %d: %s: latchkey holds generation %d after kill -9, but "+
				"an agent was answered for the rotation to generation %d: rolled back",
				iter, name, held, lb)
		}
	}
	w.seen.check(t)
}

// heldGeneration returns the generation of the access token latchkey
// injects for a credential, by binding it to an API host for one request.
func (w *crashWorld) heldGeneration(t *testing.T, name string) int {
	t.Helper()
	host := chaosAPIHosts[1]
	b := bindREST(t, w.inst, name, host, "", "")
	defer w.inst.mustAPI(t, http.MethodDelete, "/api/bindings/"+b.ID, nil,
		http.StatusNoContent, nil)
	id := newID()
	ctx, cancel := context.WithTimeout(context.Background(), crashRequestDeadline)
	defer cancel()
	resp, err := chaosCall(ctx, agentClient(t, w.inst, true), host,
		w.phantoms[name].AccessToken, id)
	if err != nil {
		t.Fatalf("request as %s: %v", name, err)
	}
	w.seen.saw("request as "+name, resp.header, resp.body)
	recs := w.prov.recordsWithID(id)
	if len(recs) != 1 || recs[0].account != name {
		t.Fatalf("request as %s: expected one upstream request with its token, saw %d: %.200s",
			name, len(recs), resp.body)
	}
	return recs[0].gen
}

// decodeInto decodes JSON and reports success.
func decodeInto(raw []byte, out any) bool {
	return json.Unmarshal(raw, out) == nil
}
