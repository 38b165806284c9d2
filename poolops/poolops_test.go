package poolops

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/store"
)

func newOps(t *testing.T) *Ops {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{1}, store.EncryptionKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); db.Close() })
	for _, n := range []string{"a", "b", "c"} {
		if _, err := eng.AddOAuthCredential(engine.OAuthSpec{Name: n, AccessToken: "at-" + n,
			RefreshToken: "rt-" + n, TokenURL: "https://auth.test/token"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.AddStaticCredential("s", "static"); err != nil {
		t.Fatal(err)
	}
	return New(eng)
}

func TestCreateListStatus(t *testing.T) {
	o := newOps(t)
	p, err := o.Create("codex", []string{"a", "b"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Strategy != "failover" || len(p.Members) != 2 || p.Members[1].Credential != "b" ||
		p.Members[1].Position != 1 {
		t.Errorf("Create = %+v, want failover with a at 0 and b at 1", p)
	}
	if l := o.List(); len(l) != 1 || l[0].Name != "codex" {
		t.Errorf("List = %+v, want [codex]", l)
	}
	st, err := o.Status("codex")
	if err != nil || st.Active != "a" || !st.Members[0].Active || st.Members[1].State != "healthy" {
		t.Errorf("Status = %+v, %v; want a active, both healthy", st, err)
	}
}

func TestSentinels(t *testing.T) {
	o := newOps(t)
	o.Create("codex", []string{"a"}, "")
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"empty members", func() error { _, err := o.Create("x", nil, ""); return err }, ErrValidation},
		{"duplicate", func() error { _, err := o.Create("x", []string{"b", "b"}, ""); return err }, ErrValidation},
		{"unknown member", func() error { _, err := o.Create("x", []string{"zz"}, ""); return err }, ErrValidation},
		{"static member", func() error { _, err := o.Create("x", []string{"s"}, ""); return err }, ErrValidation},
		{"bad name", func() error { _, err := o.Create("a b", []string{"b"}, ""); return err }, ErrValidation},
		{"bad strategy", func() error { _, err := o.Create("x", []string{"b"}, "rr"); return err }, ErrValidation},
		{"name conflict", func() error { _, err := o.Create("s", []string{"b"}, ""); return err }, ErrNameConflict},
		{"already pooled", func() error { _, err := o.Create("x", []string{"a"}, ""); return err }, ErrAlreadyPooled},
		{"status unknown", func() error { _, err := o.Status("nope"); return err }, ErrNotFound},
		{"status hostile name", func() error { _, err := o.Status("<b>"); return err }, ErrValidation},
		{"rotate unknown", func() error { _, err := o.Rotate("nope"); return err }, ErrNotFound},
		{"remove unknown", func() error { return o.Remove("nope") }, ErrNotFound},
		{"reset unknown member", func() error { _, err := o.Reset("codex", "c"); return err }, ErrValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRemoveReferencedPoolCarriesBindings(t *testing.T) {
	o := newOps(t)
	o.Create("codex", []string{"a"}, "")
	b, err := o.eng.AddBinding(engine.BindingSpec{Credential: "codex", Destination: "chatgpt.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Remove("codex")
	var ref *ReferencedError
	if !errors.Is(err, ErrReferenced) || !errors.As(err, &ref) || len(ref.Bindings) != 1 ||
		ref.Bindings[0].ID != b.ID || ref.Bindings[0].Destination != "chatgpt.com" {
		t.Fatalf("Remove = %v, want ErrReferenced carrying %s", err, b.ID)
	}
	o.eng.RemoveBinding(b.ID)
	if err := o.Remove("codex"); err != nil {
		t.Errorf("Remove after unbinding = %v", err)
	}
}

func TestRotateAndReset(t *testing.T) {
	o := newOps(t)
	o.Create("codex", []string{"a", "b"}, "")
	res, err := o.Rotate("codex")
	if err != nil || res.From != "a" || res.To != "b" {
		t.Fatalf("Rotate = %+v, %v; want a -> b", res, err)
	}
	st, _ := o.Status("codex")
	if st.Active != "b" || st.Members[0].LastFailureReason != "manual rotate" {
		t.Errorf("after rotate = %+v, want b active and a parked for manual rotate", st)
	}
	st, err = o.Reset("codex", "a")
	if err != nil || st.Members[0].State != "healthy" {
		t.Errorf("Reset = %+v, %v; want a healthy", st, err)
	}
}

func TestConcurrentRotatesAndStatusStayConsistent(t *testing.T) {
	o := newOps(t)
	o.Create("codex", []string{"a", "b", "c"}, "")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(2)
		go func() { defer wg.Done(); o.Rotate("codex") }()
		go func() {
			defer wg.Done()
			st, err := o.Status("codex")
			if err != nil {
				t.Error(err)
				return
			}
			actives := 0
			for _, m := range st.Members {
				if m.Active {
					actives++
				}
			}
			if actives != 1 {
				t.Errorf("status shows %d active members, want 1", actives)
			}
		}()
	}
	wg.Wait()
}

func TestSummaryReportsPoolsAndCounts(t *testing.T) {
	o := newOps(t)
	o.Create("codex", []string{"a", "b"}, "")
	o.eng.AddBinding(engine.BindingSpec{Credential: "codex", Destination: "chatgpt.com"})
	o.eng.Count(engine.MetricInjections, "codex", "")
	o.Rotate("codex")

	s := o.Summary()
	if s.Credentials != 4 || s.Bindings != 1 || len(s.Pools) != 1 {
		t.Fatalf("summary = %+v, want 4 credentials, 1 binding, 1 pool", s)
	}
	p := s.Pools[0]
	if p.Active != "b" || p.Healthy != 1 || p.Members != 2 || p.Injections != 1 {
		t.Errorf("pool summary = %+v, want b active, 1 of 2 healthy, 1 injection", p)
	}
	if s.Counts["injections"] != 1 || s.Counts["fail_closed"] != 0 {
		t.Errorf("counts = %v, want 1 injection and fail_closed present at 0", s.Counts)
	}
	if s.Version == "" || s.StartedAt.IsZero() {
		t.Errorf("summary lacks a version or start time: %+v", s)
	}
}
