package engine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/failover"
	"github.com/latchkeyproxy/latchkey/oauth"
)

func addOAuth(t *testing.T, e *Engine, name string) {
	t.Helper()
	_, err := e.AddOAuthCredential(OAuthSpec{Name: name, AccessToken: "at-" + name,
		RefreshToken: "rt-" + name, TokenURL: "https://auth.test/oauth/token",
		AccountID: "acct-" + name})
	if err != nil {
		t.Fatal(err)
	}
}

// poolFixture is an engine with OAuth credentials a, b, c in pool p bound to
// api.test, and a recorder of published events.
type poolFixture struct {
	e      *Engine
	events []Event
	mu     sync.Mutex
	now    time.Time
}

func newPoolFixture(t *testing.T, dir string) *poolFixture {
	t.Helper()
	e, db := newTestEngine(t, dir)
	t.Cleanup(func() { e.Close(); db.Close() })
	f := &poolFixture{e: e, now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	e.now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	e.SetEventSink(func(ev Event) { f.mu.Lock(); f.events = append(f.events, ev); f.mu.Unlock() })
	return f
}

func (f *poolFixture) setup(t *testing.T) {
	t.Helper()
	for _, n := range []string{"a", "b", "c"} {
		addOAuth(t, f.e, n)
	}
	if _, err := f.e.CreatePool(PoolSpec{Name: "p", Members: []string{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.AddBinding(BindingSpec{Credential: "p", Destination: "api.test"}); err != nil {
		t.Fatal(err)
	}
}

func rateLimited(now time.Time) failover.Verdict {
	return failover.Verdict{Kind: failover.RateLimited, Tag: "429", Cooldown: time.Minute,
		Until: now.Add(time.Minute)}
}

func TestPoolInjectsTheActiveMemberBehindOnePhantom(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	ph, _ := f.e.Phantom("p")

	plan := f.e.Plan("api.test", 443)
	if got := plan.Headers[0].Value; got != "Bearer at-a" {
		t.Fatalf("pool injects %q, want member a's token", got)
	}
	if got, _ := plan.Request.Replace(ph.AccessToken); got != "at-a" {
		t.Errorf("access phantom swapped to %q, want at-a", got)
	}
	if _, err := f.e.ReportFailure("p", "a", rateLimited(f.now), "api.test"); err != nil {
		t.Fatal(err)
	}
	if got := f.e.Plan("api.test", 443).Headers[0].Value; got != "Bearer at-b" {
		t.Errorf("after a's failure the pool injects %q, want member b's token", got)
	}
	after, _ := f.e.Phantom("p")
	if after.AccessToken != ph.AccessToken || after.RefreshToken != ph.RefreshToken {
		t.Error("the pool's phantoms changed when its member switched")
	}
}

func TestFailoverIsStickyAndAnnouncedOnce(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)

	out, err := f.e.ReportFailure("p", "a", rateLimited(f.now), "api.test")
	if err != nil || !out.Switched || out.From != "a" || out.To != "b" {
		t.Fatalf("ReportFailure = %+v, %v; want a switch from a to b", out, err)
	}
	// A second answer from a, sent before the switch, must not move the
	// pool again.
	out, _ = f.e.ReportFailure("p", "a", rateLimited(f.now), "api.test")
	if out.Switched {
		t.Errorf("a late failure of a moved the pool again: %+v", out)
	}
	st, _ := f.e.PoolStatus("p")
	if st.Active != "b" || st.Members[0].State != StateCooldown ||
		st.Members[0].LastFailureReason != "rate limit (429)" {
		t.Errorf("status = %+v, want b active and a cooling for rate limit (429)", st)
	}
	if len(f.events) != 1 || f.events[0].Reason != "p:a->b:429" ||
		f.events[0].Notice != `Pool "p" failed over from "a" to "b" after rate limit (429).` {
		t.Errorf("events = %+v, want one p:a->b:429", f.events)
	}
}

func TestExhaustedPoolUsesTheSoonestCooldown(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	long := failover.Verdict{Kind: failover.AuthFailure, Tag: "401", Cooldown: 300 * time.Second,
		Until: f.now.Add(300 * time.Second)}

	f.e.ReportFailure("p", "a", long, "api.test")               // a until +300s, -> b
	f.e.ReportFailure("p", "b", rateLimited(f.now), "api.test") // b until +60s, -> c
	out, _ := f.e.ReportFailure("p", "c", long, "api.test")     // c until +300s
	if !out.Exhausted || out.To != "b" {
		t.Errorf("outcome = %+v, want exhausted and b (soonest cooldown) active", out)
	}
	last := f.events[len(f.events)-1]
	if last.Name != EventExhausted || last.Reason != "p:exhausted:401" {
		t.Errorf("last event = %+v, want pool_exhausted p:exhausted:401", last)
	}
}

func TestPoolStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	f := newPoolFixture(t, dir)
	f.setup(t)
	f.e.ReportFailure("p", "a", rateLimited(f.now), "api.test")
	f.e.Close()
	f.e.db.Close()

	e, db := newTestEngine(t, dir)
	defer db.Close()
	e.now = func() time.Time { return f.now }
	st, err := e.PoolStatus("p")
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != "b" || st.Members[0].State != StateCooldown {
		t.Errorf("after restart status = %+v, want b active and a cooling", st)
	}
}

func TestCreatePoolValidation(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	addOAuth(t, f.e, "d")
	f.e.AddStaticCredential("s", "static-secret")

	tests := []struct {
		name string
		spec PoolSpec
		want error
	}{
		{"no members", PoolSpec{Name: "q"}, ErrInvalid},
		{"duplicate member", PoolSpec{Name: "q", Members: []string{"d", "d"}}, ErrInvalid},
		{"unknown member", PoolSpec{Name: "q", Members: []string{"zz"}}, ErrInvalid},
		{"static member", PoolSpec{Name: "q", Members: []string{"s"}}, ErrInvalid},
		{"bad name", PoolSpec{Name: "<b>", Members: []string{"d"}}, ErrInvalid},
		{"bad strategy", PoolSpec{Name: "q", Members: []string{"d"}, Strategy: "random"}, ErrInvalid},
		{"name taken by credential", PoolSpec{Name: "d", Members: []string{"d"}}, ErrConflict},
		{"name taken by pool", PoolSpec{Name: "p", Members: []string{"d"}}, ErrConflict},
		{"member already pooled", PoolSpec{Name: "q", Members: []string{"d", "a"}}, ErrAlreadyPooled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.e.CreatePool(tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("CreatePool = %v, want %v", err, tt.want)
			}
			if n := len(f.e.Pools()); n != 1 {
				t.Errorf("%d pools after a refused create, want 1", n)
			}
		})
	}
}

func TestRemovingAPooledCredentialIsRefused(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	if err := f.e.RemoveCredential("a"); !errors.Is(err, ErrConflict) {
		t.Errorf("RemoveCredential(a) = %v, want ErrConflict", err)
	}
	var ref *ReferencedError
	if err := f.e.RemovePool("p"); !errors.As(err, &ref) {
		t.Errorf("RemovePool of a bound pool = %v, want a ReferencedError", err)
	}
}

func TestRotateParksTheActiveMember(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	res, err := f.e.Rotate("p", 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != "a" || res.To != "b" || !res.ParkedUntil.Equal(f.now.Add(RotateCooldown)) {
		t.Errorf("Rotate = %+v, want a parked 300s and b active", res)
	}
	if _, err := f.e.Rotate("p", 99); !errors.Is(err, ErrRace) {
		t.Errorf("Rotate with a stale epoch = %v, want ErrRace", err)
	}
	st, _ := f.e.Reset("p", "")
	if st.Members[0].State != StateHealthy || st.Active != "b" {
		t.Errorf("after reset status = %+v, want every member healthy and b still active", st)
	}
}

// tokenServer is a fake token endpoint: it rotates tokens on every
// exchange and counts them.
type tokenServer struct {
	exchanges atomic.Int32
	started   chan struct{} // receives once per exchange, when set
	gate      chan struct{} // holds every exchange until closed, when set
}

func (s *tokenServer) exchange(ctx context.Context, tokenURL, ct string, body []byte) (*TokenAnswer, error) {
	n := s.exchanges.Add(1)
	if s.started != nil {
		s.started <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	if !strings.Contains(string(body), `"refresh_token":"rt-`) {
		return &TokenAnswer{Status: 400, Body: []byte(`{"error":"invalid_grant"}`)}, nil
	}
	return &TokenAnswer{Status: 200, Header: map[string][]string{"Content-Type": {"application/json"}},
		Body: []byte(`{"access_token":"at-new-` + itoa(n) + `","refresh_token":"rt-new-` + itoa(n) +
			`","expires_in":3600,"token_type":"Bearer"}`)}, nil
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func refreshRequest(t *testing.T, e *Engine, identity string) RefreshRequest {
	t.Helper()
	ph, _ := e.Phantom(identity)
	body := `{"client_id":"cli","grant_type":"refresh_token","refresh_token":"` + ph.RefreshToken + `"}`
	g, ok := oauth.ParseGrant("application/json", []byte(body))
	if !ok {
		t.Fatal("test body does not parse")
	}
	return RefreshRequest{Identity: identity, ContentType: "application/json", Body: []byte(body),
		Grant: g, Host: "auth.test"}
}

func TestConcurrentRefreshesBecomeOneExchange(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	srv := &tokenServer{started: make(chan struct{}, 100), gate: make(chan struct{})}
	req := refreshRequest(t, f.e, "p")

	const agents = 20
	results := make([]*RefreshResult, agents)
	var wg sync.WaitGroup
	for i := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.e.Refresh(context.Background(), req, srv.exchange)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	// Let the exchange finish only once it has started; the other agents
	// either wait on it or get its recent result.
	<-srv.started
	close(srv.gate)
	wg.Wait()

	if n := srv.exchanges.Load(); n != 1 {
		t.Fatalf("%d upstream exchanges for %d concurrent refreshes, want 1", n, agents)
	}
	ph, _ := f.e.Phantom("p")
	for i, r := range results {
		if r == nil || string(r.Body) != string(results[0].Body) {
			t.Fatalf("agent %d got a different answer", i)
		}
		if strings.Contains(string(r.Body), "at-new") || !strings.Contains(string(r.Body), ph.AccessToken) {
			t.Fatalf("answer %q carries a real token or lacks the phantom", r.Body)
		}
	}
	if got := f.e.Plan("api.test", 443).Headers[0].Value; got != "Bearer at-new-1" {
		t.Errorf("after the refresh the pool injects %q, want the rotated token", got)
	}
}

func TestRefreshWriteFailureKeepsTokensAndWritesLater(t *testing.T) {
	dir := t.TempDir()
	f := newPoolFixture(t, dir)
	f.setup(t)
	srv := &tokenServer{}

	var failing atomic.Bool
	failing.Store(true)
	hook := func() error {
		if failing.Load() {
			return errors.New("disk full")
		}
		return nil
	}
	f.e.beforeCommit.Store(&hook)

	_, err := f.e.Refresh(context.Background(), refreshRequest(t, f.e, "p"), srv.exchange)
	if !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Refresh with a failing store = %v, want ErrNotDurable", err)
	}
	if got := f.e.Plan("api.test", 443).Headers[0].Value; got != "Bearer at-new-1" {
		t.Errorf("the rotated token is not live: pool injects %q", got)
	}
	if f.e.Unsaved() != 1 {
		t.Fatalf("%d unsaved credentials, want 1", f.e.Unsaved())
	}

	failing.Store(false)
	if !f.e.flushUnsaved() {
		t.Fatal("the pending write did not go through once the store recovered")
	}
	f.e.Close()
	f.e.db.Close()
	e, db := newTestEngine(t, dir)
	defer db.Close()
	if got := e.Plan("api.test", 443).Headers[0].Value; got != "Bearer at-new-1" {
		t.Errorf("after restart the pool injects %q, want the rotated token", got)
	}
}

func TestRejectedRefreshFailsOverToTheNextMember(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	f.e.UpdateOAuthTokens("a", TokenUpdate{RefreshToken: "revoked"})
	srv := &tokenServer{}

	res, err := f.e.Refresh(context.Background(), refreshRequest(t, f.e, "p"), srv.exchange)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Refreshed || res.Member != "b" {
		t.Errorf("refresh result = member %q refreshed=%v, want b refreshed", res.Member, res.Refreshed)
	}
	st, _ := f.e.PoolStatus("p")
	if st.Active != "b" || st.Members[0].LastFailureReason != "auth failure (invalid_grant)" {
		t.Errorf("status = %+v, want b active and a cooling for invalid_grant", st)
	}
}

func TestAgentsWaitingOnARejectedRefreshFollowTheFailover(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	f.e.UpdateOAuthTokens("a", TokenUpdate{RefreshToken: "revoked"})
	srv := &tokenServer{started: make(chan struct{}, 100), gate: make(chan struct{})}
	req := refreshRequest(t, f.e, "p")

	const agents = 10
	results := make(chan *RefreshResult, agents)
	for range agents {
		go func() {
			res, err := f.e.Refresh(context.Background(), req, srv.exchange)
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	<-srv.started // a's exchange is in flight; the others queue behind it
	close(srv.gate)
	for range agents {
		if res := <-results; res == nil || !res.Refreshed || res.Member != "b" {
			t.Fatalf("an agent got %+v, want b's refreshed answer", res)
		}
	}
	if n := srv.exchanges.Load(); n != 2 {
		t.Errorf("%d exchanges, want one for a and one for b", n)
	}
}

func TestRefreshAnswerMapsTheAccountIDToThePhantom(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	ph, _ := f.e.Phantom("p")
	exchange := func(ctx context.Context, tokenURL, ct string, body []byte) (*TokenAnswer, error) {
		return &TokenAnswer{Status: 200, Header: map[string][]string{"Content-Type": {"application/json"}},
			Body: []byte(`{"access_token":"at-new","refresh_token":"rt-new","expires_in":3600,` +
				`"account":{"uuid":"acct-a","email_address":"a@example.com"}}`)}, nil
	}
	res, err := f.e.Refresh(context.Background(), refreshRequest(t, f.e, "p"), exchange)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Body), "acct-a") || !strings.Contains(string(res.Body), ph.AccountID) {
		t.Errorf("refresh answer %s carries the real account id, want the phantom", res.Body)
	}
}

func TestRotateNoticesAPoolRemovedAndCreatedAgain(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	f.setup(t)
	addOAuth(t, f.e, "d")
	f.e.CreatePool(PoolSpec{Name: "q", Members: []string{"d"}})
	before, _ := f.e.PoolStatus("q")

	if err := f.e.RemovePool("q"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CreatePool(PoolSpec{Name: "q", Members: []string{"d"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Rotate("q", before.Epoch()); !errors.Is(err, ErrRace) {
		t.Errorf("Rotate with the epoch of the removed pool = %v, want ErrRace", err)
	}
	if st, _ := f.e.PoolStatus("q"); st.Members[0].State != StateHealthy {
		t.Errorf("a refused rotate wrote a cooldown: %+v", st)
	}
}

func TestOAuthCredentialRefusesAnIDTokenThatIsNotAJWT(t *testing.T) {
	f := newPoolFixture(t, t.TempDir())
	_, err := f.e.AddOAuthCredential(OAuthSpec{Name: "x", AccessToken: "at", IDToken: "opaque",
		TokenURL: "https://auth.test/token"})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("AddOAuthCredential with a non-JWT id token = %v, want ErrInvalid", err)
	}
	addOAuth(t, f.e, "y")
	if err := f.e.UpdateOAuthTokens("y", TokenUpdate{IDToken: "opaque"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateOAuthTokens with a non-JWT id token = %v, want ErrInvalid", err)
	}
}
