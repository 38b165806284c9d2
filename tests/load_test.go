package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load test: 100 concurrent agents use one pool of three OAuth members
// while the provider rate-limits members and restores them mid-run, never
// all three at once. It checks what the README promises of a pool under
// load:
//
//   - no request fails, since some member could always serve it (a failure
//     would only be acceptable when every member failed);
//   - concurrent refreshes of the pool's phantom become one upstream
//     exchange per member and coalescing window;
//   - no real secret reaches an agent;
//   - afterwards the test process's goroutines return to their idle level,
//     and latchkey's stay within what its connection pools keep.
//
// The short profile runs in every `go test`; LATCHKEY_LOAD=1 (make load)
// runs the long one.

// loadProfile bounds one run.
type loadProfile struct {
	agents      int
	phase       time.Duration
	maxRequests int // per agent
}

// loadPhases says which members the provider rate-limits in each phase.
var loadPhases = [][]int{{}, {0}, {0, 1}, {1}, {1, 2}, {2, 0}, {}}

func TestLoadPoolOfThreeUnderRateLimits(t *testing.T) {
	prof := loadProfile{agents: 100, phase: 1200 * time.Millisecond, maxRequests: 5000}
	if os.Getenv("LATCHKEY_LOAD") == "1" {
		prof = loadProfile{agents: 100, phase: 10 * time.Second, maxRequests: 50000}
	}
	prof.agents = envInt("LATCHKEY_LOAD_AGENTS", prof.agents)

	prov := newChaosProvider(t)
	prov.retryAfter = "0.3" // short cooldowns, so restored members come back
	inst := newChaosInstance(t, prov)
	members := []string{"load-a", "load-b", "load-c"}
	for _, m := range members {
		addChaosOAuth(t, inst, prov, m)
	}
	const pool = "load-pool"
	inst.mustAPI(t, http.MethodPost, "/api/pools", map[string]any{
		"name":    pool,
		"members": members,
	}, http.StatusCreated, nil)
	host := chaosAPIHosts[0]
	bindREST(t, inst, pool, host, "", "")
	var ph chaosPhantoms
	inst.mustAPI(t, http.MethodGet, "/api/phantom/"+pool, nil, http.StatusOK, &ph)

	runtime.GC()
	idleGoroutines := runtime.NumGoroutine()
	lkBefore := latchkeyGoroutines(t, inst)
	rssBefore := processRSS(inst)

	seen := &chaosReceived{}
	var phase atomic.Int32
	limitedNow := func() []int { return loadPhases[phase.Load()] }
	applyPhase := func(i int) {
		limited := loadPhases[i]
		for j, m := range members {
			prov.setLimited(m, slices.Contains(limited, j))
		}
		phase.Store(int32(i))
	}
	applyPhase(0)

	type failure struct {
		at     time.Duration
		phase  int // when the request was sent
		ended  int // when its answer came
		status int
		err    error
		body   string
	}
	var (
		mu        sync.Mutex
		failures  []failure
		latencies []time.Duration
		refreshes atomic.Int64
	)
	ctx, cancel := context.WithTimeout(context.Background(),
		time.Duration(len(loadPhases))*prof.phase+2*time.Minute)
	defer cancel()
	done := make(chan struct{})
	start := time.Now()
	var total atomic.Int64

	// The agents.
	var wg sync.WaitGroup
	clients := make([]*http.Client, prof.agents)
	for a := range prof.agents {
		clients[a] = clientTrusting(t, inst.proxyURL, inst.caddyRoot, a%2 == 0)
		wg.Add(1)
		go func(client *http.Client) {
			defer wg.Done()
			lastRefresh := int32(-1)
			for range prof.maxRequests {
				select {
				case <-done:
					return
				default:
				}
				// A refresh at the start and mid-run, as agents do when
				// their clock says the token is old.
				if p := phase.Load(); (p == 0 || p == 3) && lastRefresh != p {
					lastRefresh = p
					resp, err := chaosRefresh(ctx, client, ph.RefreshToken, newID())
					refreshes.Add(1)
					if err != nil || resp.status != http.StatusOK {
						mu.Lock()
						failures = append(failures, failure{
							at:    time.Since(start),
							phase: int(p), ended: int(phase.Load()), status: resp.status,
							err: err, body: resp.body,
						})
						mu.Unlock()
					} else {
						seen.saw("refresh", resp.header, resp.body)
					}
				}
				p := int(phase.Load())
				t0 := time.Now()
				resp, err := chaosCall(ctx, client, host, ph.AccessToken, newID())
				took := time.Since(t0)
				total.Add(1)
				if err != nil || resp.status != http.StatusOK {
					if err == nil && len(limitedNow()) == len(members) {
						continue // every member failed: the agent may see it
					}
					mu.Lock()
					failures = append(failures, failure{
						at: time.Since(start), phase: p,
						ended: int(phase.Load()), status: resp.status, err: err,
						body: resp.body,
					})
					mu.Unlock()
					continue
				}
				seen.saw("request", resp.header, resp.body)
				mu.Lock()
				latencies = append(latencies, took)
				mu.Unlock()
			}
		}(clients[a])
	}

	// The schedule.
	for i := range loadPhases {
		applyPhase(i)
		select {
		case <-time.After(prof.phase): // the schedule, not synchronisation
		case <-ctx.Done():
		}
	}
	close(done)
	wg.Wait()
	elapsed := time.Since(start)

	// Afterwards: the agents hang up, and everything they held goes away.
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	goroutinesBack := waitFor(20*time.Second, func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= idleGoroutines+5
	})
	// latchkey keeps idle upstream connections (64 per host, two
	// goroutines each, plus HTTP/2's); anything beyond that would be a leak
	// that grows with the requests.
	lkBound := lkBefore + 64*3*2 + 40
	var lkAfter int
	lkBack := waitFor(20*time.Second, func() bool {
		lkAfter = latchkeyGoroutines(t, inst)
		return lkAfter <= lkBound
	})
	rssAfter := processRSS(inst)

	// Exchanges at the provider: one per member per refresh wave at most.
	var exchanges []string
	var exchangeCount int
	for _, m := range members {
		r, _, rejected := prov.stats(m)
		exchanges = append(exchanges, fmt.Sprintf("%s=%d", m, r))
		exchangeCount += r
		if rejected > 0 {
			t.Errorf("%s: %d refreshes refused by the provider", m, rejected)
		}
		waves := 2 + int(elapsed/(30*time.Second))
		if r > waves {
			t.Errorf("%s: %d upstream refreshes for %d refresh waves: concurrent refreshes "+
				"were not coalesced", m, r, waves)
		}
	}
	if exchangeCount == 0 {
		t.Errorf("no refresh reached the provider")
	}

	slices.Sort(latencies)
	pct := func(q float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(q*float64(len(latencies))))]
	}
	switches := loadSwitches(prov, host)
	n := total.Load()
	report := fmt.Sprintf("load: %d agents, %d requests + %d refreshes in %v = %.0f requests/s; "+
		"%d failed; p50 %v, p99 %v; %d member switches seen by the API; upstream refreshes %s; "+
		"goroutines (test) %d idle → %d after; latchkey goroutines %d → %d; latchkey RSS %s → %s",
		prof.agents, n, refreshes.Load(), elapsed.Round(time.Millisecond),
		float64(n)/elapsed.Seconds(), len(failures), pct(0.5).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), switches, strings.Join(exchanges, " "),
		idleGoroutines, runtime.NumGoroutine(), lkBefore, lkAfter, rssBefore, rssAfter)
	t.Log(report)
	fmt.Fprintln(os.Stderr, report)

	perPhase := make([]int, len(loadPhases))
	for _, f := range failures {
		perPhase[f.ended]++
	}
	if len(failures) > 0 {
		t.Errorf("%d requests failed although a member could serve them; by phase of the "+
			"answer %v (members limited per phase: %v)", len(failures), perPhase, loadPhases)
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(failures)-10)
			break
		}
		t.Errorf("request failed at %v, sent in phase %d (members limited: %v), answered in "+
			"phase %d (%v): status %d, error %v: %.200s", f.at.Round(time.Millisecond), f.phase,
			loadPhases[f.phase], f.ended, loadPhases[f.ended], f.status, f.err, f.body)
	}
	if !goroutinesBack {
		t.Errorf("test process goroutines: expected back to %d (+5), saw %d", idleGoroutines,
			runtime.NumGoroutine())
	}
	if !lkBack {
		t.Errorf("latchkey goroutines: expected at most %d after the agents hung up, saw %d",
			lkBound, lkAfter)
	}
	if switches < len(loadPhases)-3 {
		t.Errorf("member switches seen by the API: expected at least %d, saw %d",
			len(loadPhases)-3, switches)
	}
	seen.check(t)
}

// loadSwitches counts how often the member serving host changed, in the
// order the provider received the requests.
func loadSwitches(p *chaosProvider, host string) int {
	recs, _ := p.recordsSince(0)
	last, n := "", 0
	for _, r := range recs {
		if r.host != host || r.status != http.StatusOK || r.account == "" {
			continue
		}
		if last != "" && r.account != last {
			n++
		}
		last = r.account
	}
	return n
}

// latchkeyGoroutines reads the instance's goroutine count from Caddy's
// pprof endpoint on the admin socket.
func latchkeyGoroutines(t *testing.T, inst *instance) int {
	t.Helper()
	status, body, err := inst.api(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /debug/pprof/goroutine: %d %v", status, err)
	}
	// "goroutine profile: total N"
	first, _, _ := strings.Cut(string(body), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(first, "goroutine profile: total")))
	if err != nil {
		t.Fatalf("GET /debug/pprof/goroutine: unexpected first line %q", first)
	}
	return n
}

// processRSS returns the instance's resident memory as /proc reports it.
func processRSS(inst *instance) string {
	if inst.cmd == nil || inst.cmd.Process == nil {
		return "?"
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", inst.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

func TestConcurrentFailuresOnTheOldMemberAreRetried(t *testing.T) {
	// Two requests are in flight on member a when a runs out of quota:
	// both get a's 429. The first moves the pool to b and is retried there;
	// the second must be retried on b too, since b can serve it. (The load
	// test above sees this at every switch; this is the same in miniature,
	// made deterministic by holding a's answers until both have arrived.)
	prov := newChaosProvider(t)
	inst := newChaosInstance(t, prov)
	for _, m := range []string{"conc-a", "conc-b"} {
		addChaosOAuth(t, inst, prov, m)
	}
	inst.mustAPI(t, http.MethodPost, "/api/pools", map[string]any{
		"name":    "conc-pool",
		"members": []string{"conc-a", "conc-b"},
	}, http.StatusCreated, nil)
	host := chaosAPIHosts[0]
	bindREST(t, inst, "conc-pool", host, "", "")
	var ph chaosPhantoms
	inst.mustAPI(t, http.MethodGet, "/api/phantom/conc-pool", nil, http.StatusOK, &ph)
	prov.setLimited("conc-a", true)
	prov.mu.Lock()
	prov.limitedBarrier = newChaosBarrier(2)
	prov.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	type result struct {
		id   string
		resp response
		err  error
	}
	results := make(chan result, 2)
	for i := range 2 {
		client := agentClient(t, inst, i == 0)
		go func() {
			id := newID()
			resp, err := chaosCall(ctx, client, host, ph.AccessToken, id)
			results <- result{id, resp, err}
		}()
	}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("request: %v", r.err)
		}
		var served []string
		for _, rec := range prov.recordsWithID(r.id) {
			served = append(served, fmt.Sprintf("%s:%d", rec.account, rec.status))
		}
		if r.resp.status != http.StatusOK {
			t.Errorf("request %s: expected 200 (conc-b could serve it), saw %d; the upstream "+
				"saw %v", r.id, r.resp.status, served)
		}
	}
}
