package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
	"github.com/latchkeyproxy/latchkey/store"
)

// Outcome classes: what every channel reports for a pool operation. A
// channel's own answer (a sentinel, a REST code, the CLI's --json error)
// maps onto exactly one of them.
const (
	outcomeOK            = "ok"
	outcomeValidation    = "validation"
	outcomeNotFound      = "not_found"
	outcomeConflict      = "conflict"
	outcomeAlreadyPooled = "already_pooled"
	outcomeReferenced    = "referenced"
	outcomeRace          = "race"
	outcomeInternal      = "internal"
)

// parityStep is one step of the parity scenario, in logical names: a, b
// and c are OAuth credentials, s is a static one, p and p2 are pools. Each
// channel turns the valid names into its own, so that runs on a shared
// instance do not meet; names outside the alphabet stay as they are.
type parityStep struct {
	name     string
	op       string
	pool     string
	members  []string
	strategy string
	member   string
	want     string
}

// Operations of a step.
const (
	opCreate = "create"
	opStatus = "status"
	opRotate = "rotate"
	opReset  = "reset"
	opRemove = "remove"
	opBind   = "bind"
	opUnbind = "unbind"
)

// parityScenario covers every pool operation and every error class, in an
// order whose state carries from step to step.
var parityScenario = []parityStep{
	{name: "create", op: opCreate, pool: "p", members: []string{"a", "b"}, want: outcomeOK},
	{name: "create without members", op: opCreate, pool: "p2", want: outcomeValidation},
	{
		name: "create with a duplicate", op: opCreate, pool: "p2", members: []string{"c", "c"},
		want: outcomeValidation,
	},
	{
		name: "create with an unknown member", op: opCreate, pool: "p2",
		members: []string{"zz"}, want: outcomeValidation,
	},
	{
		name: "create with a static member", op: opCreate, pool: "p2", members: []string{"s"},
		want: outcomeValidation,
	},
	{
		name: "create with a bad name", op: opCreate, pool: "a b", members: []string{"c"},
		want: outcomeValidation,
	},
	{
		name: "create with a bad strategy", op: opCreate, pool: "p2", members: []string{"c"},
		strategy: "round_robin", want: outcomeValidation,
	},
	{
		name: "create with a credential's name", op: opCreate, pool: "s",
		members: []string{"c"}, want: outcomeConflict,
	},
	{
		name: "create with a pool's name", op: opCreate, pool: "p", members: []string{"c"},
		want: outcomeConflict,
	},
	{
		name: "create with a pooled member", op: opCreate, pool: "p2",
		members: []string{"c", "a"}, want: outcomeAlreadyPooled,
	},
	{name: "status", op: opStatus, pool: "p", want: outcomeOK},
	{name: "status of an unknown pool", op: opStatus, pool: "nope", want: outcomeNotFound},
	{name: "status of a hostile name", op: opStatus, pool: "<b>", want: outcomeValidation},
	{name: "rotate", op: opRotate, pool: "p", want: outcomeOK},
	{name: "rotate an unknown pool", op: opRotate, pool: "nope", want: outcomeNotFound},
	{name: "reset a non-member", op: opReset, pool: "p", member: "c", want: outcomeValidation},
	{name: "reset one member", op: opReset, pool: "p", member: "a", want: outcomeOK},
	{name: "rotate back", op: opRotate, pool: "p", want: outcomeOK},
	{name: "reset every member", op: opReset, pool: "p", want: outcomeOK},
	{name: "reset an unknown pool", op: opReset, pool: "nope", want: outcomeNotFound},
	{name: "bind", op: opBind, pool: "p", want: outcomeOK},
	{name: "remove while bound", op: opRemove, pool: "p", want: outcomeReferenced + "(1)"},
	{name: "unbind", op: opUnbind, pool: "p", want: outcomeOK},
	{name: "remove", op: opRemove, pool: "p", want: outcomeOK},
	{name: "remove again", op: opRemove, pool: "p", want: outcomeNotFound},
	{name: "remove a hostile name", op: opRemove, pool: "a b", want: outcomeValidation},
	{
		name: "create from freed members", op: opCreate, pool: "p2", members: []string{"b", "a"},
		want: outcomeOK,
	},
}

// poolView is a pool as every channel must report it, in logical names and
// without timestamps (each channel's run happens at its own time).
type poolView struct {
	Name     string
	Strategy string
	Members  []string
	Active   string
	Health   []string
}

// poolChannel is one way to manage pools: poolops in-process, REST, or the
// CLI.
type poolChannel interface {
	// do runs one step and returns its outcome class.
	do(t *testing.T, s parityStep) string

	// pools returns the channel's view of this run's pools, by name.
	pools(t *testing.T) []poolView
}

// parityNames maps logical names to one run's real ones.
type parityNames struct {
	suffix string
}

// real turns a logical name into the run's name; a name outside the
// alphabet stays as it is, so that it is refused the same way everywhere.
func (n parityNames) real(logical string) string {
	if engine.ValidateName(logical) != nil {
		return logical
	}
	return logical + "-" + n.suffix
}

// reals maps real over names.
func (n parityNames) reals(logical []string) []string {
	out := make([]string, len(logical))
	for i, l := range logical {
		out[i] = n.real(l)
	}
	return out
}

// ours reports whether a real name belongs to this run, and its logical
// name.
func (n parityNames) ours(real string) (string, bool) {
	return strings.CutSuffix(real, "-"+n.suffix)
}

// view turns a status into a poolView in logical names.
func (n parityNames) view(st engine.PoolStatus, members []string) poolView {
	v := poolView{Name: n.logical(st.Name), Strategy: st.Strategy, Active: n.logical(st.Active)}
	for _, m := range members {
		v.Members = append(v.Members, n.logical(m))
	}
	for _, m := range st.Members {
		h := n.logical(m.Credential) + ":" + m.State
		if m.LastFailureReason != "" {
			h += ":" + m.LastFailureReason
		}
		if m.Active {
			h = "*" + h
		}
		v.Health = append(v.Health, h)
	}
	return v
}

func (n parityNames) logical(real string) string {
	l, _ := n.ours(real)
	return l
}

// classifyCode maps a REST error code onto an outcome class.
func classifyCode(code string, bindings int) string {
	switch code {
	case "invalid", "invalid_json":
		return outcomeValidation
	case "referenced":
		return fmt.Sprintf("%s(%d)", outcomeReferenced, bindings)
	case "not_found", "conflict", "already_pooled", "race", "internal":
		return code
	}
	return "unexpected code " + code
}

// TestPoolOperationsHaveParityAcrossChannels runs one scenario through
// poolops on an in-process engine, through the REST API and through the
// CLI of the real binary, and checks that each step has the expected
// outcome in every channel and leaves the same state behind.
func TestPoolOperationsHaveParityAcrossChannels(t *testing.T) {
	inst := sharedInstance(t)
	channels := []struct {
		name string
		ch   poolChannel
	}{
		{"poolops", newOpsChannel(t)},
		{"REST", newRESTChannel(t, inst)},
		{"CLI", newCLIChannel(t, inst)},
	}

	states := make([][][]poolView, len(channels))
	for i, c := range channels {
		t.Run(c.name, func(t *testing.T) {
			for _, step := range parityScenario {
				if got := c.ch.do(t, step); got != step.want {
					t.Errorf("%s: outcome %q, want %q", step.name, got, step.want)
				}
				states[i] = append(states[i], c.ch.pools(t))
			}
		})
	}

	for i := 1; i < len(channels); i++ {
		for s, step := range parityScenario {
			if s >= len(states[i]) || s >= len(states[0]) {
				t.Fatalf("%s stopped before step %q", channels[i].name, step.name)
			}
			if !reflect.DeepEqual(states[i][s], states[0][s]) {
				t.Errorf("after %q, %s reports\n%+v\npoolops reports\n%+v", step.name,
					channels[i].name, states[i][s], states[0][s])
			}
		}
	}
}

// opsChannel calls poolops on an engine in this process.
type opsChannel struct {
	names   parityNames
	eng     *engine.Engine
	ops     *poolops.Ops
	binding string
}

func newOpsChannel(t *testing.T) *opsChannel {
	t.Helper()
	db, err := store.Open(store.Options{
		Dir:           t.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{7}, store.EncryptionKeySize),
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); db.Close() })

	c := &opsChannel{names: parityNames{suffix: newID()}, eng: eng, ops: poolops.New(eng)}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := eng.AddOAuthCredential(engine.OAuthSpec{
			Name:        c.names.real(n),
			AccessToken: newSecret("at"), RefreshToken: newSecret("rt"),
			TokenURL: testTokenURL(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.AddStaticCredential(c.names.real("s"), newSecret("s")); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *opsChannel) do(t *testing.T, s parityStep) string {
	pool := c.names.real(s.pool)
	var err error
	switch s.op {
	case opCreate:
		_, err = c.ops.Create(pool, c.names.reals(s.members), s.strategy)
	case opStatus:
		_, err = c.ops.Status(pool)
	case opRotate:
		_, err = c.ops.Rotate(pool)
	case opReset:
		member := ""
		if s.member != "" {
			member = c.names.real(s.member)
		}
		_, err = c.ops.Reset(pool, member)
	case opRemove:
		err = c.ops.Remove(pool)
	case opBind:
		var b engine.Binding
		b, err = c.eng.AddBinding(engine.BindingSpec{
			Credential:  pool,
			Destination: "parity-" + c.names.suffix + ".test",
		})
		c.binding = b.ID
	case opUnbind:
		err = c.eng.RemoveBinding(c.binding)
	default:
		t.Fatalf("unknown op %q", s.op)
	}

	var ref *poolops.ReferencedError
	switch {
	case err == nil:
		return outcomeOK
	case errors.As(err, &ref):
		return fmt.Sprintf("%s(%d)", outcomeReferenced, len(ref.Bindings))
	case errors.Is(err, poolops.ErrValidation):
		return outcomeValidation
	case errors.Is(err, poolops.ErrNotFound):
		return outcomeNotFound
	case errors.Is(err, poolops.ErrNameConflict):
		return outcomeConflict
	case errors.Is(err, poolops.ErrAlreadyPooled):
		return outcomeAlreadyPooled
	case errors.Is(err, poolops.ErrRace):
		return outcomeRace
	}
	return outcomeInternal + ": " + err.Error()
}

func (c *opsChannel) pools(t *testing.T) []poolView {
	var out []poolView
	for _, p := range c.ops.List() {
		if _, ok := c.names.ours(p.Name); !ok {
			continue
		}
		st, err := c.ops.Status(p.Name)
		if err != nil {
			t.Fatalf("status of listed pool %s: %v", p.Name, err)
		}
		out = append(out, c.names.view(st, poolMembers(p)))
	}
	return out
}

// poolMembers lists a pool's members in order.
func poolMembers(p engine.Pool) []string {
	var names []string
	for _, m := range p.Members {
		names = append(names, m.Credential)
	}
	return names
}

// restChannel calls the REST API of the shared instance.
type restChannel struct {
	names   parityNames
	inst    *instance
	binding string
}

func newRESTChannel(t *testing.T, inst *instance) *restChannel {
	t.Helper()
	c := &restChannel{names: parityNames{suffix: newID()}, inst: inst}
	for _, n := range []string{"a", "b", "c"} {
		inst.mustAPI(t, http.MethodPost, "/api/credentials", map[string]any{
			"name": c.names.real(n), "type": "oauth", "access_token": newSecret("at"),
			"refresh_token": newSecret("rt"), "token_url": testTokenURL(),
		}, http.StatusCreated, nil)
	}
	inst.mustAPI(t, http.MethodPost, "/api/credentials",
		map[string]any{"name": c.names.real("s"), "value": newSecret("s")},
		http.StatusCreated, nil)
	return c
}

func (c *restChannel) do(t *testing.T, s parityStep) string {
	pool := url.PathEscape(c.names.real(s.pool))
	var status int
	var body []byte
	var err error
	switch s.op {
	case opCreate:
		req := map[string]any{"name": c.names.real(s.pool), "members": c.names.reals(s.members)}
		if s.strategy != "" {
			req["strategy"] = s.strategy
		}
		status, body, err = c.inst.api(http.MethodPost, "/api/pools", req)
	case opStatus:
		status, body, err = c.inst.api(http.MethodGet, "/api/pools/"+pool, nil)
	case opRotate:
		status, body, err = c.inst.api(http.MethodPost, "/api/pools/"+pool+"/rotate", nil)
	case opReset:
		req := map[string]string{}
		if s.member != "" {
			req["member"] = c.names.real(s.member)
		}
		status, body, err = c.inst.api(http.MethodPost, "/api/pools/"+pool+"/reset", req)
	case opRemove:
		status, body, err = c.inst.api(http.MethodDelete, "/api/pools/"+pool, nil)
	case opBind:
		status, body, err = c.inst.api(http.MethodPost, "/api/bindings", map[string]any{
			"credential":  c.names.real(s.pool),
			"destination": "parity-" + c.names.suffix + ".test",
		})
		var b binding
		if err == nil && status == http.StatusCreated && json.Unmarshal(body, &b) == nil {
			c.binding = b.ID
		}
	case opUnbind:
		status, body, err = c.inst.api(http.MethodDelete, "/api/bindings/"+c.binding, nil)
	default:
		t.Fatalf("unknown op %q", s.op)
	}
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	if status < 300 {
		return outcomeOK
	}
	var e struct {
		Code     string `json:"code"`
		Bindings []any  `json:"bindings"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Sprintf("status %d without the error shape: %s", status, body)
	}
	return classifyCode(e.Code, len(e.Bindings))
}

func (c *restChannel) pools(t *testing.T) []poolView {
	var list []engine.Pool
	c.inst.mustAPI(t, http.MethodGet, "/api/pools", nil, http.StatusOK, &list)
	var out []poolView
	for _, p := range list {
		if _, ok := c.names.ours(p.Name); !ok {
			continue
		}
		out = append(out, c.names.view(poolAPI{c.inst}.status(t, p.Name), poolMembers(p)))
	}
	return out
}

// cliChannel runs the CLI of the binary under test against the shared
// instance, with --json so that a failure carries the REST error code.
type cliChannel struct {
	names   parityNames
	inst    *instance
	binding string
}

func newCLIChannel(t *testing.T, inst *instance) *cliChannel {
	t.Helper()
	c := &cliChannel{names: parityNames{suffix: newID()}, inst: inst}
	for _, n := range []string{"a", "b", "c"} {
		inst.mustCLI(t, newSecret("at")+"\n"+newSecret("rt")+"\n", "cred", "add",
			c.names.real(n), "--type", "oauth", "--token-url", testTokenURL(),
			"--expires-in", "3600")
	}
	inst.mustCLI(t, newSecret("s")+"\n", "cred", "add", c.names.real("s"))
	return c
}

func (c *cliChannel) do(t *testing.T, s parityStep) string {
	pool := c.names.real(s.pool)
	var args []string
	switch s.op {
	case opCreate:
		args = []string{
			"pool", "create", pool, "--members",
			strings.Join(c.names.reals(s.members), ","),
		}
		if s.strategy != "" {
			args = append(args, "--strategy", s.strategy)
		}
	case opStatus, opRotate, opRemove:
		args = []string{"pool", s.op, pool}
	case opReset:
		args = []string{"pool", "reset", pool}
		if s.member != "" {
			args = append(args, "--member", c.names.real(s.member))
		}
	case opBind:
		args = []string{"bind", "add", pool, "--host", "parity-" + c.names.suffix + ".test"}
	case opUnbind:
		args = []string{"bind", "remove", c.binding}
	default:
		t.Fatalf("unknown op %q", s.op)
	}

	res := c.inst.cli(t, "", append(args, "--json")...)
	if res.code == 0 {
		if s.op == opBind {
			var b binding
			if err := json.Unmarshal([]byte(res.stdout), &b); err != nil {
				t.Fatalf("bind add --json: %v in %q", err, res.stdout)
			}
			c.binding = b.ID
		}
		return outcomeOK
	}
	if res.code != 1 || !strings.HasPrefix(res.stderr, "latchkey: ") ||
		strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("%s: expected exit status 1 and one error line, saw %d and %q", s.name,
			res.code, res.stderr)
	}
	var e struct {
		Code     string `json:"code"`
		Bindings []any  `json:"bindings"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &e); err != nil {
		return "CLI error without the REST shape: " + strings.TrimSpace(res.stderr)
	}
	return classifyCode(e.Code, len(e.Bindings))
}

func (c *cliChannel) pools(t *testing.T) []poolView {
	var list []engine.Pool
	decodeCLI(t, c.inst.mustCLI(t, "", "pool", "list", "--json"), &list)
	var out []poolView
	for _, p := range list {
		if _, ok := c.names.ours(p.Name); !ok {
			continue
		}
		var st engine.PoolStatus
		decodeCLI(t, c.inst.mustCLI(t, "", "pool", "status", p.Name, "--json"), &st)
		out = append(out, c.names.view(st, poolMembers(p)))
	}
	return out
}

// decodeCLI decodes the --json output of a CLI run.
func decodeCLI(t *testing.T, stdout string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("decoding CLI output %q: %v", stdout, err)
	}
}

// TestPoolCreatedAndBoundOverRESTInjectsOnTheNextRequest creates two OAuth
// accounts, a pool of them and its binding through REST, and sends the
// very next request through the proxy with the pool's phantom: the
// upstream sees the active member's real token, no reload in between, and
// after a rotate the next request carries the other member's.
func TestPoolCreatedAndBoundOverRESTInjectsOnTheNextRequest(t *testing.T) {
	inst := sharedInstance(t)
	api := poolAPI{inst}
	a, b := api.addAccount(t, "acct-a"), api.addAccount(t, "acct-b")
	name := "codex-" + newID()
	api.create(t, name, a, b)
	ph := api.phantom(t, name)
	bindREST(t, inst, name, "api.test", "", "")
	client := agentClient(t, inst, true)

	for i, want := range []pooledAccount{a, b} {
		if i > 0 {
			if res := api.rotate(t, name); res.From != a.name || res.To != b.name {
				t.Fatalf("rotate: expected %s -> %s, saw %+v", a.name, b.name, res)
			}
		}
		id := newID()
		resp := get(t, client, "https://api.test/echo", bearer(ph.AccessToken), id)
		if resp.status != http.StatusOK {
			t.Fatalf("request %d: expected 200, saw %d: %s", i, resp.status, resp.body)
		}
		assertAuthorization(t, id, "Bearer "+want.access)
		for _, acct := range []pooledAccount{a, b} {
			assertNoSecret(t, resp, acct.access)
			assertNoSecret(t, resp, acct.refresh)
		}
		if got := decodeEcho(t, resp.body).Header.Get("Authorization"); got !=
			"Bearer "+ph.AccessToken {
			t.Errorf("echoed Authorization: expected the pool phantom, saw %q", got)
		}
	}

	if again := api.phantom(t, name); again.AccessToken != ph.AccessToken ||
		again.RefreshToken != ph.RefreshToken {
		t.Errorf("pool phantoms changed across the rotate: %+v, then %+v", ph, again)
	}
}

// TestConcurrentRotatesAndStatusOverLiveTraffic sends 50 rotates and 50
// status calls over REST at once, while agents send requests through the
// pool. Under -race the instance runs a race-enabled binary, whose log
// must hold no race report; every status shows exactly one active member
// and every request is served by one of the pool's accounts.
func TestConcurrentRotatesAndStatusOverLiveTraffic(t *testing.T) {
	var inst *instance
	if bin := raceBinary(t); bin != "" {
		inst = newInstanceOf(t, bin)
	} else {
		inst = sharedInstance(t)
	}
	api := poolAPI{inst}
	accounts := []pooledAccount{
		api.addAccount(t, "c-a"), api.addAccount(t, "c-b"),
		api.addAccount(t, "c-c"),
	}
	name := "busy-" + newID()
	api.create(t, name, accounts...)
	ph := api.phantom(t, name)
	bindREST(t, inst, name, "api.test", "", "")

	const calls = 50
	stop := make(chan struct{})
	traffic := startPoolTraffic(t, inst, ph.AccessToken, 4, stop)
	errs := make(chan error, 2*calls)
	done := make(chan struct{})
	for range calls {
		go func() {
			status, body, err := inst.api(http.MethodPost, "/api/pools/"+name+"/rotate", nil)
			var res engine.RotateResult
			switch {
			case err != nil:
				errs <- err
			case status != http.StatusOK:
				errs <- fmt.Errorf("rotate: status %d: %s", status, body)
			case json.Unmarshal(body, &res) != nil || res.From == res.To:
				errs <- fmt.Errorf("rotate: expected a move to another member, saw %s", body)
			default:
				errs <- nil
			}
		}()
		go func() {
			status, body, err := inst.api(http.MethodGet, "/api/pools/"+name, nil)
			var st engine.PoolStatus
			switch {
			case err != nil:
				errs <- err
			case status != http.StatusOK || json.Unmarshal(body, &st) != nil:
				errs <- fmt.Errorf("status: %d %s", status, body)
			case activeCount(st) != 1:
				errs <- fmt.Errorf("status: expected exactly one active member, saw %s", body)
			default:
				errs <- nil
			}
		}()
	}
	go func() {
		for range 2 * calls {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	<-done
	close(stop)
	ids := <-traffic

	if len(ids) == 0 {
		t.Fatal("no request went through the pool while it rotated")
	}
	for _, id := range ids {
		got := fakeUpstream.onlyRequest(t, id).Header.Get("Authorization")
		if !slices.ContainsFunc(accounts, func(a pooledAccount) bool {
			return got == "Bearer "+a.access
		}) {
			t.Errorf("request %s: expected one of the pool's access tokens, saw %q", id, got)
		}
	}
	if st := api.status(t, name); activeCount(st) != 1 {
		t.Errorf("final status: expected exactly one active member, saw %+v", st)
	}
	assertNoDataRace(t, inst)
}

// startPoolTraffic runs workers that send requests with the pool phantom
// through the proxy until stop closes, and then sends the ids of the
// requests that succeeded. A failed request fails t.
func startPoolTraffic(t *testing.T, inst *instance, phantom string, workers int,
	stop <-chan struct{},
) <-chan []string {
	client := agentClient(t, inst, true)
	out := make(chan []string, 1)
	results := make(chan []string, workers)
	for range workers {
		go func() {
			var ids []string
			defer func() { results <- ids }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := newID()
				req, _ := http.NewRequest(http.MethodGet, "https://api.test/echo", nil)
				req.Header.Set("Authorization", "Bearer "+phantom)
				req.Header.Set(requestIDHeader, id)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request through the pool: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("request through the pool: expected 200, saw %d", resp.StatusCode)
					return
				}
				ids = append(ids, id)
			}
		}()
	}
	go func() {
		var all []string
		for range workers {
			all = append(all, <-results...)
		}
		out <- all
	}()
	return out
}
