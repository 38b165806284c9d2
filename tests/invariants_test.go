package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The invariant scenario suite: a seeded random generator drives the real
// binary through REST (credentials static and OAuth, pools, bindings,
// updates, removals, rotates, resets, hostile input) and through the proxy
// (requests to bound and unbound hosts, failovers on scripted 429s,
// refreshes at the token host). After every step it checks SPEC section 13:
//
//  1. no real secret (any token the provider ever issued, any static value
//     ever set, current or replaced) in anything a client received: REST
//     answers, proxy answers, their headers;
//  2. no real secret reached a destination it is not bound to: every
//     request the provider recorded holds only the current secrets of the
//     identities bound to its host (at the token host, only the refresh
//     token of the member being refreshed);
//  4. what REST reports is what the proxy does: the credentials, bindings
//     and pools listed are the model's, and each bound pool's active member
//     per GET /api/pools/{name} is the one whose token the API sees next;
//  5. bad input gets a 4xx and changes nothing.
//
// A failing seed is printed; LATCHKEY_INVARIANT_SEED replays one.

// invariantSeeds are the fixed seeds of every run.
var invariantSeeds = []uint64{1, 20261203, 0x1a7c4e}

// invIdentity is a credential or pool of the model.
type invIdentity struct {
	name    string
	kind    string // "static", "oauth" or "pool"
	secret  string // a static credential's current value
	members []string
	pool    string // the pool an OAuth credential belongs to
	anchor  bool   // an anchor credential, never removed
	ph      chaosPhantoms
}

// invWorld is one scenario: the instance, the provider and the model.
type invWorld struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	inst  *instance
	prov  *chaosProvider
	seen  *chaosReceived
	agent *http.Client

	ids      map[string]*invIdentity
	bindings map[string][2]string // id → identity, host

	// secrets maps every real value ever used to its credential; current
	// says whether it is the credential's value now.
	secrets map[string]string

	recSeq int
	step   int
	log    []string
	names  int
}

func TestInvariantsHoldUnderRandomOperations(t *testing.T) {
	seeds := invariantSeeds
	steps := 80
	if longProfile() {
		steps = 250
		for i := range 20 {
			seeds = append(seeds, uint64(time.Now().UnixNano())+uint64(i))
		}
	}
	if s, err := strconv.ParseUint(os.Getenv("LATCHKEY_INVARIANT_SEED"), 10, 64); err == nil {
		seeds = []uint64{s}
	}
	steps = envInt("LATCHKEY_INVARIANT_STEPS", steps)
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runInvariantScenario(t, seed, steps)
		})
	}
}

func runInvariantScenario(t *testing.T, seed uint64, steps int) {
	w := &invWorld{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x696e76)),
		prov: newChaosProvider(t), seen: &chaosReceived{}, ids: map[string]*invIdentity{},
		bindings: map[string][2]string{}, secrets: map[string]string{},
	}
	w.inst = newChaosInstance(t, w.prov)
	w.agent = agentClient(t, w.inst, true)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("invariant scenario seed %d failed at step %d (replay: "+
				"LATCHKEY_INVARIANT_SEED=%d); the steps:\n%s", seed, w.step, seed,
				strings.Join(w.log, "\n"))
		}
	})

	// An anchor per API host keeps every host intercepted, so requests to
	// hosts an identity is not bound to are seen (and stripped) too.
	for _, h := range chaosAPIHosts {
		id := w.addStatic(true)
		w.bind(id.name, h)
	}

	ops := []struct {
		weight int
		name   string
		run    func() bool
	}{
		{6, "add static", func() bool { w.addStatic(false); return true }},
		{6, "add oauth", func() bool { w.addOAuth(); return true }},
		{8, "bind", w.opBind},
		{4, "unbind", w.opUnbind},
		{5, "create pool", w.opCreatePool},
		{2, "remove pool", w.opRemovePool},
		{3, "update static", w.opUpdateStatic},
		{3, "update oauth", w.opUpdateOAuth},
		{3, "remove credential", w.opRemoveCredential},
		{18, "request", w.opRequest},
		{10, "failover", w.opFailover},
		{8, "refresh", w.opRefresh},
		{3, "rotate", w.opRotate},
		{2, "reset", w.opReset},
		{4, "bad input", w.opBadInput},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	ran := map[string]int{}
	for w.step = 0; w.step < steps; w.step++ {
		for range 20 { // pick an op that applies to the current state
			n := w.rng.IntN(total)
			i := 0
			for ; n >= ops[i].weight; i++ {
				n -= ops[i].weight
			}
			w.logf("step %d: %s", w.step, ops[i].name)
			if ops[i].run() {
				ran[ops[i].name]++
				break
			}
			w.log = w.log[:len(w.log)-1]
		}
		w.checkRecords()
		w.checkState()
		w.checkRecords()
		w.seen.check(t)
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("seed %d: %d steps (%v), %d answers checked, %d upstream requests checked",
		seed, steps, ran, w.seen.count, w.recSeq)
}

// logf adds a line to the scenario's log.
func (w *invWorld) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf(format, args...))
}

// invRawBody is a request body sent as it is, not as JSON of a value.
type invRawBody string

// rest calls the admin API and records the answer as received by a client.
func (w *invWorld) rest(method, path string, body any) (int, []byte) {
	w.t.Helper()
	var status int
	var raw []byte
	var err error
	if rb, ok := body.(invRawBody); ok {
		status, raw, err = restRaw(w.inst, method, path, []byte(rb))
	} else {
		status, raw, err = w.inst.api(method, path, body)
	}
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	w.seen.saw(method+" "+path, nil, string(raw))
	return status, raw
}

// restRaw sends body as it is to the admin API, with the bearer token.
func restRaw(inst *instance, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, "http://127.0.0.1"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+inst.token)
	resp, err := inst.rest.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, out, err
}

// mustRest is rest that fails unless the status is want, decoding into out.
func (w *invWorld) mustRest(method, path string, body any, want int, out any) {
	w.t.Helper()
	status, raw := w.rest(method, path, body)
	if status != want {
		w.t.Fatalf("step %d: %s %s: expected %d, saw %d: %s", w.step, method, path, want,
			status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			w.t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// newName returns a fresh identity name.
func (w *invWorld) newName(prefix string) string {
	w.names++
	return fmt.Sprintf("%s-%d-%d", prefix, w.seed%1000, w.names)
}

// pick returns a random element, or false when there is none.
func pick[T any](rng *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[rng.IntN(len(xs))], true
}

// identities returns the model's identities of the kinds, sorted by name.
func (w *invWorld) identities(kinds ...string) []*invIdentity {
	var out []*invIdentity
	for _, id := range w.ids {
		if slices.Contains(kinds, id.kind) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// boundHosts returns the hosts an identity is bound to.
func (w *invWorld) boundHosts(name string) []string {
	var out []string
	for _, b := range w.bindings {
		if b[0] == name && !slices.Contains(out, b[1]) {
			out = append(out, b[1])
		}
	}
	slices.Sort(out)
	return out
}

// bindingIDs returns the sorted ids of an identity's bindings.
func (w *invWorld) bindingIDs(name string) []string {
	var out []string
	for id, b := range w.bindings {
		if b[0] == name {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (w *invWorld) phantoms(name string) chaosPhantoms {
	var ph chaosPhantoms
	w.mustRest(http.MethodGet, "/api/phantom/"+name, nil, http.StatusOK, &ph)
	return ph
}

func (w *invWorld) addStatic(anchor bool) *invIdentity {
	id := &invIdentity{
		name: w.newName("st"), kind: "static", secret: chaosSecret("inv"),
		anchor: anchor,
	}
	w.prov.addStatic(id.name, id.secret)
	w.mustRest(http.MethodPost, "/api/credentials",
		map[string]string{"name": id.name, "value": id.secret}, http.StatusCreated, nil)
	w.secrets[id.secret] = id.name
	id.ph = w.phantoms(id.name)
	w.ids[id.name] = id
	w.logf("  added static %s", id.name)
	return id
}

func (w *invWorld) addOAuth() {
	id := &invIdentity{name: w.newName("oa"), kind: "oauth"}
	id.ph = addChaosOAuth(w.t, w.inst, w.prov, id.name)
	g := w.prov.gen(id.name, 0)
	w.secrets[g.access], w.secrets[g.refresh] = id.name, id.name
	w.ids[id.name] = id
	w.logf("  added oauth %s", id.name)
}

func (w *invWorld) bind(name, host string) {
	var b binding
	w.mustRest(http.MethodPost, "/api/bindings",
		map[string]string{"credential": name, "destination": host}, http.StatusCreated, &b)
	w.bindings[b.ID] = [2]string{name, host}
	w.logf("  bound %s to %s (%s)", name, host, b.ID)
}

func (w *invWorld) opBind() bool {
	// Mostly identities not bound anywhere yet.
	var unbound []*invIdentity
	for _, id := range w.identities("static", "oauth", "pool") {
		if len(w.boundHosts(id.name)) == 0 {
			unbound = append(unbound, id)
		}
	}
	id, ok := pick(w.rng, unbound)
	if !ok || w.rng.IntN(4) == 0 {
		id, ok = pick(w.rng, w.identities("static", "oauth", "pool"))
	}
	if !ok {
		return false
	}
	host, _ := pick(w.rng, chaosAPIHosts)
	w.bind(id.name, host)
	return true
}

func (w *invWorld) opUnbind() bool {
	var ids []string
	for bid, b := range w.bindings {
		if !w.ids[b[0]].anchor {
			ids = append(ids, bid)
		}
	}
	slices.Sort(ids)
	bid, ok := pick(w.rng, ids)
	if !ok {
		return false
	}
	w.mustRest(http.MethodDelete, "/api/bindings/"+bid, nil, http.StatusNoContent, nil)
	w.logf("  unbound %s from %s (%s)", w.bindings[bid][0], w.bindings[bid][1], bid)
	delete(w.bindings, bid)
	return true
}

func (w *invWorld) opCreatePool() bool {
	var free []*invIdentity
	for _, id := range w.identities("oauth") {
		if id.pool == "" {
			free = append(free, id)
		}
	}
	if len(free) < 2 {
		return false
	}
	w.rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	n := 2 + w.rng.IntN(min(2, len(free)-1))
	p := &invIdentity{name: w.newName("pool"), kind: "pool"}
	for _, m := range free[:n] {
		p.members = append(p.members, m.name)
	}
	w.mustRest(http.MethodPost, "/api/pools", map[string]any{
		"name":    p.name,
		"members": p.members,
	}, http.StatusCreated, nil)
	for _, m := range p.members {
		w.ids[m].pool = p.name
	}
	p.ph = w.phantoms(p.name)
	w.ids[p.name] = p
	w.logf("  created pool %s of %v", p.name, p.members)
	if w.rng.IntN(4) != 0 { // most pools are created to be used
		host, _ := pick(w.rng, chaosAPIHosts)
		w.bind(p.name, host)
	}
	return true
}

func (w *invWorld) opRemovePool() bool {
	p, ok := pick(w.rng, w.identities("pool"))
	if !ok {
		return false
	}
	status, raw := w.rest(http.MethodDelete, "/api/pools/"+p.name, nil)
	if refs := w.bindingIDs(p.name); len(refs) > 0 {
		var e struct {
			Code     string `json:"code"`
			Bindings []struct {
				ID string `json:"id"`
			} `json:"bindings"`
		}
		json.Unmarshal(raw, &e)
		var got []string
		for _, b := range e.Bindings {
			got = append(got, b.ID)
		}
		slices.Sort(got)
		if status != http.StatusConflict || !slices.Equal(got, refs) {
			w.t.Errorf("step %d: DELETE /api/pools/%s while bound by %v: expected 409 naming "+
				"those bindings, saw %d: %s", w.step, p.name, refs, status, raw)
		}
		w.logf("  pool %s still bound: 409", p.name)
		return true
	}
	if status != http.StatusNoContent {
		w.t.Fatalf("step %d: DELETE /api/pools/%s: expected 204, saw %d: %s", w.step, p.name,
			status, raw)
	}
	for _, m := range p.members {
		w.ids[m].pool = ""
	}
	delete(w.ids, p.name)
	w.logf("  removed pool %s", p.name)
	return true
}

func (w *invWorld) opUpdateStatic() bool {
	var statics []*invIdentity
	for _, id := range w.identities("static") {
		if !id.anchor {
			statics = append(statics, id)
		}
	}
	id, ok := pick(w.rng, statics)
	if !ok {
		return false
	}
	secret := chaosSecret("inv-upd")
	w.prov.addStatic(id.name, secret)
	w.mustRest(http.MethodPatch, "/api/credentials/"+id.name, map[string]string{"value": secret},
		http.StatusNoContent, nil)
	id.secret = secret
	w.secrets[secret] = id.name
	w.logf("  updated %s", id.name)
	return true
}

func (w *invWorld) opUpdateOAuth() bool {
	id, ok := pick(w.rng, w.identities("oauth"))
	if !ok {
		return false
	}
	g := w.prov.reissue(id.name)
	w.mustRest(http.MethodPatch, "/api/credentials/"+id.name, map[string]string{
		"access_token": g.access, "refresh_token": g.refresh,
	}, http.StatusNoContent, nil)
	w.secrets[g.access], w.secrets[g.refresh] = id.name, id.name
	w.logf("  updated %s to generation %d", id.name, w.prov.latest(id.name))
	return true
}

func (w *invWorld) opRemoveCredential() bool {
	var cands []*invIdentity
	for _, id := range w.identities("static", "oauth") {
		if !id.anchor {
			cands = append(cands, id)
		}
	}
	id, ok := pick(w.rng, cands)
	if !ok {
		return false
	}
	status, raw := w.rest(http.MethodDelete, "/api/credentials/"+id.name, nil)
	switch {
	case len(w.bindingIDs(id.name)) > 0 || id.pool != "":
		if status != http.StatusConflict {
			w.t.Errorf("step %d: DELETE /api/credentials/%s (bound %v, pool %q): expected 409, "+
				"saw %d: %s", w.step, id.name, w.bindingIDs(id.name), id.pool, status, raw)
		}
		w.logf("  %s still in use: 409", id.name)
	default:
		if status != http.StatusNoContent {
			w.t.Fatalf("step %d: DELETE /api/credentials/%s: expected 204, saw %d: %s", w.step,
				id.name, status, raw)
		}
		delete(w.ids, id.name)
		w.logf("  removed %s", id.name)
	}
	return true
}

// accessPhantom is what an agent sends as the identity's key.
func (id *invIdentity) accessPhantom() string {
	if id.kind == "static" {
		return id.ph.Phantom
	}
	return id.ph.AccessToken
}

// servingMember is the credential whose secret the identity injects, per
// the REST API.
func (w *invWorld) servingMember(id *invIdentity) string {
	if id.kind != "pool" {
		return id.name
	}
	return w.poolStatus(id.name).Active
}

func (w *invWorld) poolStatus(name string) chaosPoolStatus {
	var st chaosPoolStatus
	w.mustRest(http.MethodGet, "/api/pools/"+name, nil, http.StatusOK, &st)
	return st
}

// call sends one request as the identity to host and returns the answer
// and what the provider recorded of it.
func (w *invWorld) call(id *invIdentity, host string) (response, []chaosRecord) {
	w.t.Helper()
	rid := newID()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := chaosCall(ctx, w.agent, host, id.accessPhantom(), rid)
	if err != nil {
		w.t.Fatalf("step %d: request as %s to %s: %v", w.step, id.name, host, err)
	}
	w.seen.saw("request as "+id.name+" to "+host, resp.header, resp.body)
	return resp, w.prov.recordsWithID(rid)
}

func (w *invWorld) opRequest() bool {
	id, ok := pick(w.rng, w.identities("static", "oauth", "pool"))
	if !ok {
		return false
	}
	host, _ := pick(w.rng, chaosAPIHosts)
	bound := slices.Contains(w.boundHosts(id.name), host)
	member := ""
	if bound {
		member = w.servingMember(id)
	}
	resp, recs := w.call(id, host)
	w.logf("  %s to %s (bound %v): %d", id.name, host, bound, resp.status)
	if len(recs) != 1 {
		w.t.Errorf("step %d: request as %s to %s: expected 1 upstream request, saw %d", w.step,
			id.name, host, len(recs))
		return true
	}
	r := recs[0]
	switch {
	case bound && r.account != member:
		w.t.Errorf("step %d: request as %s to %s (bound): expected the secret of %s, the "+
			"upstream saw %q", w.step, id.name, host, member, r.account)
	case bound && w.ids[member].kind == "oauth" && r.gen != w.prov.latest(member):
		w.t.Errorf("step %d: request as %s to %s: expected %s's current access token "+
			"(generation %d), the upstream saw generation %d", w.step, id.name, host, member,
			w.prov.latest(member), r.gen)
	case bound && resp.status != http.StatusOK:
		w.t.Errorf("step %d: request as %s to %s: expected 200, saw %d: %.200s", w.step,
			id.name, host, resp.status, resp.body)
	case !bound && r.account != "":
		w.t.Errorf("step %d: request as %s to %s (not bound): the upstream saw the secret of %s",
			w.step, id.name, host, r.account)
	}
	return true
}

// healthyPoolOn returns a bound pool with at least two members that are not
// cooling down, its host and status.
func (w *invWorld) healthyPoolOn() (*invIdentity, string, chaosPoolStatus, bool) {
	var cands []*invIdentity
	for _, p := range w.identities("pool") {
		if len(w.boundHosts(p.name)) > 0 {
			cands = append(cands, p)
		}
	}
	w.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	for _, p := range cands {
		st := w.poolStatus(p.name)
		healthy := 0
		activeHealthy := false
		for _, m := range st.Members {
			if m.State == "healthy" {
				healthy++
				activeHealthy = activeHealthy || m.Credential == st.Active
			}
		}
		if healthy >= 2 && activeHealthy {
			host, _ := pick(w.rng, w.boundHosts(p.name))
			return p, host, st, true
		}
	}
	return nil, "", chaosPoolStatus{}, false
}

func (w *invWorld) opFailover() bool {
	p, host, st, ok := w.healthyPoolOn()
	if !ok {
		return false
	}
	// The next healthy member after the active one, wrapping.
	var order []string
	for _, m := range st.Members {
		order = append(order, m.Credential)
	}
	start := slices.Index(order, st.Active)
	next := ""
	for i := 1; i < len(order); i++ {
		m := st.Members[(start+i)%len(order)]
		if m.State == "healthy" {
			next = m.Credential
			break
		}
	}
	w.prov.scriptStatus(st.Active, http.StatusTooManyRequests)
	resp, recs := w.call(p, host)
	w.prov.clearScripts()
	w.logf("  %s on %s: %s answers 429, expected %s to serve: %d", p.name, host, st.Active,
		next, resp.status)
	if resp.status != http.StatusOK {
		w.t.Errorf("step %d: failover of %s: expected the agent to get 200 from %s, saw %d: "+
			"%.200s", w.step, p.name, next, resp.status, resp.body)
	}
	var served []string
	for _, r := range recs {
		served = append(served, r.account)
	}
	if !slices.Equal(served, []string{st.Active, next}) {
		w.t.Errorf("step %d: failover of %s: expected the upstream to see %s then %s, saw %v",
			w.step, p.name, st.Active, next, served)
	}
	if after := w.poolStatus(p.name); after.Active != next {
		w.t.Errorf("step %d: failover of %s: GET /api/pools says %s is active, expected %s",
			w.step, p.name, after.Active, next)
	}
	return true
}

func (w *invWorld) opRefresh() bool {
	id, ok := pick(w.rng, w.identities("oauth", "pool"))
	if !ok {
		return false
	}
	member := w.servingMember(id)
	before := w.prov.latest(member)
	rid := newID()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp, err := chaosRefresh(ctx, w.agent, id.ph.RefreshToken, rid)
	if err != nil {
		w.t.Fatalf("step %d: refresh of %s: %v", w.step, id.name, err)
	}
	w.seen.saw("refresh of "+id.name, resp.header, resp.body)
	recs := w.prov.recordsWithID(rid)
	w.logf("  refresh of %s (member %s, generation %d): %d, %d exchanges", id.name, member,
		before, resp.status, len(recs))
	if resp.status != http.StatusOK || !strings.Contains(resp.body, id.ph.RefreshToken) {
		others := ""
		for _, o := range w.identities("oauth", "pool") {
			if o != id && strings.Contains(resp.body, o.ph.RefreshToken) {
				others += " " + o.name
			}
		}
		w.t.Errorf("step %d: refresh of %s: expected 200 with its own refresh phantom, saw %d "+
			"with the phantoms of [%s ]: %.300s", w.step, id.name, resp.status, others, resp.body)
	}
	// Either one exchange with the member's current refresh token, or
	// none: a refresh of the same member shortly before answers it.
	switch {
	case len(recs) > 1:
		w.t.Errorf("step %d: refresh of %s: expected at most one upstream exchange, saw %d",
			w.step, id.name, len(recs))
	case len(recs) == 1 && (recs[0].account != member || recs[0].presented != before):
		w.t.Errorf("step %d: refresh of %s: expected %s's refresh token of generation %d, the "+
			"provider saw %q generation %d", w.step, id.name, member, before, recs[0].account,
			recs[0].presented)
	}
	if len(recs) == 1 {
		g := w.prov.gen(member, w.prov.latest(member))
		w.secrets[g.access], w.secrets[g.refresh] = member, member
	}
	return true
}

func (w *invWorld) opRotate() bool {
	p, ok := pick(w.rng, w.identities("pool"))
	if !ok {
		return false
	}
	before := w.poolStatus(p.name)
	var res struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	w.mustRest(http.MethodPost, "/api/pools/"+p.name+"/rotate", nil, http.StatusOK, &res)
	after := w.poolStatus(p.name)
	w.logf("  rotated %s: %s -> %s", p.name, res.From, res.To)
	if res.From != before.Active || after.Active != res.To {
		w.t.Errorf("step %d: rotate of %s: active was %s, rotate said %s -> %s, now %s",
			w.step, p.name, before.Active, res.From, res.To, after.Active)
	}
	return true
}

func (w *invWorld) opReset() bool {
	p, ok := pick(w.rng, w.identities("pool"))
	if !ok {
		return false
	}
	var st chaosPoolStatus
	w.mustRest(http.MethodPost, "/api/pools/"+p.name+"/reset", nil, http.StatusOK, &st)
	for _, m := range st.Members {
		if m.State != "healthy" {
			w.t.Errorf("step %d: reset of %s: member %s is %s", w.step, p.name, m.Credential,
				m.State)
		}
	}
	w.logf("  reset %s", p.name)
	return true
}

// opBadInput sends a request that must be refused, and checks that it
// changed nothing.
func (w *invWorld) opBadInput() bool {
	oauths := w.identities("oauth")
	statics := w.identities("static")
	var pooled, static string
	for _, o := range oauths {
		if o.pool != "" {
			pooled = o.name
		}
	}
	if len(statics) > 0 {
		static = statics[0].name
	}
	secret := chaosSecret("inv-bad")
	cases := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/api/credentials", map[string]string{"name": "a b", "value": secret}},
		{http.MethodPost, "/api/credentials", map[string]string{"name": "<b>x</b>", "value": secret}},
		{http.MethodPost, "/api/credentials", map[string]string{
			"name":  strings.Repeat("n", 65),
			"value": secret,
		}},
		{http.MethodPost, "/api/credentials", map[string]any{
			"name":  w.newName("bad"),
			"value": secret, "admin": true,
		}},
		{http.MethodPost, "/api/credentials", map[string]any{
			"name": w.newName("bad"),
			"type": "oauth", "access_token": secret, "token_url": "file:///etc/passwd",
		}},
		{http.MethodPost, "/api/credentials", invRawBody(`{"name":"x","value":"` + secret)},
		{http.MethodPost, "/api/credentials", invRawBody(`{"name":"x","value":"` + secret +
			`"} {"name":"y"}`)},
		{http.MethodPost, "/api/credentials", invRawBody("{\"name\":\"x\",\"value\":\"\xff" +
			secret + "\"}")},
		{http.MethodPost, "/api/credentials", map[string]string{"name": static, "value": secret}},
		{http.MethodPost, "/api/bindings", map[string]string{
			"credential":  "nope-" + newID(),
			"destination": "h1.test",
		}},
		{http.MethodPost, "/api/bindings", map[string]string{
			"credential":  static,
			"destination": "h1.test/evil",
		}},
		{http.MethodPost, "/api/pools", map[string]any{
			"name":    w.newName("bad"),
			"members": []string{static},
		}},
		{http.MethodPost, "/api/pools", map[string]any{"name": w.newName("bad"), "members": []string{}}},
		{http.MethodPatch, "/api/credentials/nope-" + newID(), map[string]string{"value": secret}},
		{http.MethodDelete, "/api/bindings/bnd_000000000000", nil},
		{http.MethodDelete, "/api/pools/nope-" + newID(), nil},
	}
	if pooled != "" {
		cases = append(cases, struct {
			method, path string
			body         any
		}{http.MethodPost, "/api/pools", map[string]any{
			"name":    w.newName("bad"),
			"members": []string{pooled},
		}})
	}
	c := cases[w.rng.IntN(len(cases))]
	before := w.restState()
	status, raw := w.rest(c.method, c.path, c.body)
	w.logf("  %s %s: %d", c.method, c.path, status)
	if status < 400 || status >= 500 {
		w.t.Errorf("step %d: %s %s with bad input: expected a 4xx, saw %d: %s", w.step, c.method,
			c.path, status, raw)
	}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error == "" || e.Code == "" {
		w.t.Errorf("step %d: %s %s: expected {error, code}, saw %s", w.step, c.method, c.path, raw)
	}
	if after := w.restState(); after != before {
		w.t.Errorf("step %d: %s %s was refused but changed the state:\nbefore %s\nafter  %s",
			w.step, c.method, c.path, before, after)
	}
	return true
}

// restState renders what REST lists, for comparison.
func (w *invWorld) restState() string {
	var creds, binds, pools []map[string]any
	w.mustRest(http.MethodGet, "/api/credentials", nil, http.StatusOK, &creds)
	w.mustRest(http.MethodGet, "/api/bindings", nil, http.StatusOK, &binds)
	w.mustRest(http.MethodGet, "/api/pools", nil, http.StatusOK, &pools)
	raw, _ := json.Marshal([]any{creds, binds, pools})
	return string(raw)
}

// checkRecords checks every request the provider received since the last
// check: no secret reached a destination it is not bound to, and no
// replaced secret reached any.
func (w *invWorld) checkRecords() {
	w.t.Helper()
	recs, next := w.prov.recordsSince(w.recSeq)
	w.recSeq = next
	for _, r := range recs {
		var text strings.Builder
		text.WriteString(r.target + "\n" + r.body + "\n")
		for k, vs := range r.header {
			text.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
		}
		for value, owner := range w.secrets {
			if !strings.Contains(text.String(), value) {
				continue
			}
			if why := w.allowed(r, value, owner); why != "" {
				w.t.Errorf("step %d: %s %s%s carried a secret of %s: %s", w.step, r.method,
					r.host, r.target, owner, why)
			}
		}
	}
}

// allowed says why value (a secret of owner) may not be in request r, or
// "" when it may.
func (w *invWorld) allowed(r chaosRecord, value, owner string) string {
	id, exists := w.ids[owner]
	if !exists {
		return "the credential was removed"
	}
	if r.host == chaosTokenHost {
		if r.presented < 0 || r.account != owner || value != w.prov.gen(owner, r.presented).refresh {
			return "only the refreshed member's refresh token may reach the token host"
		}
		return ""
	}
	current := id.secret
	if id.kind == "oauth" {
		g := w.prov.gen(owner, w.prov.latest(owner))
		if strings.HasPrefix(value, "rt-") {
			return "a refresh token went to an API host"
		}
		current = g.access
	}
	if value != current {
		return "a replaced secret was sent"
	}
	hosts := w.boundHosts(owner)
	if id.pool != "" {
		hosts = append(hosts, w.boundHosts(id.pool)...)
	}
	if !slices.Contains(hosts, r.host) {
		return fmt.Sprintf("it is bound to %v only", hosts)
	}
	return ""
}

// checkState compares what REST lists with the model, and each bound pool's
// reported active member with what the proxy does.
func (w *invWorld) checkState() {
	w.t.Helper()
	var creds []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Pool string `json:"pool"`
	}
	w.mustRest(http.MethodGet, "/api/credentials", nil, http.StatusOK, &creds)
	var got, want []string
	for _, c := range creds {
		got = append(got, c.Name+"/"+c.Type+"/"+c.Pool)
	}
	for _, id := range w.identities("static", "oauth") {
		want = append(want, id.name+"/"+id.kind+"/"+id.pool)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		w.t.Errorf("step %d: GET /api/credentials: expected %v, saw %v", w.step, want, got)
	}

	var binds []binding
	w.mustRest(http.MethodGet, "/api/bindings", nil, http.StatusOK, &binds)
	got, want = nil, nil
	for _, b := range binds {
		got = append(got, b.ID+"/"+b.Credential+"/"+b.Destination)
	}
	for bid, b := range w.bindings {
		want = append(want, bid+"/"+b[0]+"/"+b[1])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		w.t.Errorf("step %d: GET /api/bindings: expected %v, saw %v", w.step, want, got)
	}

	var pools []struct {
		Name    string `json:"name"`
		Members []struct {
			Credential string `json:"credential"`
		} `json:"members"`
	}
	w.mustRest(http.MethodGet, "/api/pools", nil, http.StatusOK, &pools)
	got, want = nil, nil
	for _, p := range pools {
		var ms []string
		for _, m := range p.Members {
			ms = append(ms, m.Credential)
		}
		got = append(got, p.Name+"="+strings.Join(ms, ","))
	}
	for _, p := range w.identities("pool") {
		want = append(want, p.name+"="+strings.Join(p.members, ","))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		w.t.Errorf("step %d: GET /api/pools: expected %v, saw %v", w.step, want, got)
	}

	// The pool's reported active member is the one the API sees next.
	for _, p := range w.identities("pool") {
		hosts := w.boundHosts(p.name)
		if len(hosts) == 0 {
			continue
		}
		active := w.poolStatus(p.name).Active
		resp, recs := w.call(p, hosts[0])
		if len(recs) != 1 || recs[0].account != active || resp.status != http.StatusOK {
			var saw []string
			for _, r := range recs {
				saw = append(saw, r.account)
			}
			w.t.Errorf("step %d: GET /api/pools/%s says %s is active; a request through the "+
				"pool to %s was served by %v with %d", w.step, p.name, active, hosts[0], saw,
				resp.status)
		}
	}
}

func TestRefreshAnswerCarriesTheCallersOwnPhantoms(t *testing.T) {
	// An OAuth credential that is also a pool member has two identities:
	// its own phantoms and the pool's. A refresh through either must answer
	// with that identity's phantoms, never the other's: an agent given the
	// credential must not be handed the pool (whose other members and
	// bindings it was never given), nor the other way round.
	prov := newChaosProvider(t)
	inst := newChaosInstance(t, prov)
	seen := &chaosReceived{}
	m1 := addChaosOAuth(t, inst, prov, "own-m1")
	addChaosOAuth(t, inst, prov, "own-m2")
	inst.mustAPI(t, http.MethodPost, "/api/pools", map[string]any{
		"name":    "own-pool",
		"members": []string{"own-m1", "own-m2"},
	}, http.StatusCreated, nil)
	var pool chaosPhantoms
	inst.mustAPI(t, http.MethodGet, "/api/phantom/own-pool", nil, http.StatusOK, &pool)
	client := agentClient(t, inst, true)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()

	for _, step := range []struct {
		who        string
		mine, them chaosPhantoms
	}{
		{"the pool", pool, m1},
		{"its member own-m1", m1, pool},
	} {
		resp, err := chaosRefresh(ctx, client, step.mine.RefreshToken, newID())
		if err != nil {
			t.Fatal(err)
		}
		seen.saw("refresh as "+step.who, resp.header, resp.body)
		if resp.status != http.StatusOK {
			t.Fatalf("refresh as %s: expected 200, saw %d: %.300s", step.who, resp.status,
				resp.body)
		}
		if !strings.Contains(resp.body, step.mine.RefreshToken) ||
			!strings.Contains(resp.body, step.mine.AccessToken) {
			t.Errorf("refresh as %s: expected its own access and refresh phantoms in the "+
				"answer, saw %.300s", step.who, resp.body)
		}
		if strings.Contains(resp.body, step.them.RefreshToken) ||
			strings.Contains(resp.body, step.them.AccessToken) {
			t.Errorf("refresh as %s: the answer carries the phantoms of the other identity "+
				"(%s): an agent holding one identity was handed another", step.who,
				map[bool]string{true: "own-pool", false: "own-m1"}[step.who != "the pool"])
		}
	}
	seen.check(t)
}
