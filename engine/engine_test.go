package engine

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/latchkeyproxy/latchkey/store"
)

// newTestEngine opens an engine over a fresh store in dir.
func newTestEngine(t *testing.T, dir string) (*Engine, *store.DB) {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir,
		EncryptionKey: bytes.Repeat([]byte{5}, store.EncryptionKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(db, nil)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return e, db
}

func mustAdd(t *testing.T, e *Engine, name, value, host string) Binding {
	t.Helper()
	if _, err := e.AddStaticCredential(name, value); err != nil {
		t.Fatal(err)
	}
	b, err := e.AddBinding(BindingSpec{Credential: name, Destination: host})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPlanInjectsBoundAndStripsOthers(t *testing.T) {
	e, db := newTestEngine(t, t.TempDir())
	defer db.Close()
	mustAdd(t, e, "openai", "sk-openai-real", "api.openai.com")
	mustAdd(t, e, "anthropic", "sk-ant-real", "api.anthropic.com")
	po, _ := e.Phantom("openai")
	pa, _ := e.Phantom("anthropic")

	plan := e.Plan("API.OPENAI.COM", 443)
	if !plan.Intercepted() {
		t.Fatal("a bound host is not intercepted")
	}
	if len(plan.Headers) != 1 || plan.Headers[0].Value != "Bearer sk-openai-real" ||
		plan.Headers[0].Header != "Authorization" || plan.Headers[0].Phantom != po.Phantom {
		t.Errorf("header rules = %+v, want Authorization: Bearer <real> for openai", plan.Headers)
	}
	got, m := plan.Request.Replace("a=" + po.Phantom + "&b=" + pa.Phantom)
	if got != "a=sk-openai-real&b=" {
		t.Errorf("request swap gave %q, want the bound phantom replaced and the other removed", got)
	}
	if s := plan.Stripped(m); len(s) != 1 || s[0] != "anthropic" {
		t.Errorf("stripped = %v, want [anthropic]", s)
	}
	if back, _ := plan.Response.Replace("echo sk-openai-real"); back != "echo "+po.Phantom {
		t.Errorf("response scrub gave %q, want the secret replaced by its phantom", back)
	}

	if e.Plan("example.org", 443).Intercepted() {
		t.Error("an unbound host is intercepted")
	}
}

func TestBindingPortsLimitTheBinding(t *testing.T) {
	e, db := newTestEngine(t, t.TempDir())
	defer db.Close()
	e.AddStaticCredential("k", "secret-k")
	if _, err := e.AddBinding(BindingSpec{Credential: "k", Destination: "*.test",
		Ports: []int{8443}, Header: "x-api-key", Template: "{value}"}); err != nil {
		t.Fatal(err)
	}
	if e.Plan("a.test", 443).Intercepted() {
		t.Error("port 443 is intercepted for a binding limited to 8443")
	}
	p := e.Plan("a.test", 8443)
	if !p.Intercepted() || p.Headers[0].Header != "x-api-key" || p.Headers[0].Value != "secret-k" {
		t.Errorf("plan for 8443 = %+v, want x-api-key: secret-k", p.Headers)
	}
}

func TestChangesApplyToTheNextPlan(t *testing.T) {
	e, db := newTestEngine(t, t.TempDir())
	defer db.Close()
	b := mustAdd(t, e, "k", "old-secret", "api.test")

	if err := e.UpdateStaticCredential("k", "new-secret"); err != nil {
		t.Fatal(err)
	}
	if v := e.Plan("api.test", 443).Headers[0].Value; v != "Bearer new-secret" {
		t.Errorf("after update the header is %q, want the new secret", v)
	}
	if err := e.RemoveBinding(b.ID); err != nil {
		t.Fatal(err)
	}
	if e.Plan("api.test", 443).Intercepted() {
		t.Error("the host is still intercepted after its binding was removed")
	}
}

func TestStateSurvivesRestartWithTheSamePhantoms(t *testing.T) {
	dir := t.TempDir()
	e, db := newTestEngine(t, dir)
	mustAdd(t, e, "k", "secret", "api.test")
	before, _ := e.Phantom("k")
	db.Close()

	e, db = newTestEngine(t, dir)
	defer db.Close()
	after, err := e.Phantom("k")
	if err != nil {
		t.Fatal(err)
	}
	if after.Phantom != before.Phantom {
		t.Errorf("phantom changed across restart: %q then %q", before.Phantom, after.Phantom)
	}
	if !e.Plan("api.test", 443).Intercepted() {
		t.Error("the binding was lost across restart")
	}
}

func TestRefusedChangesLeaveStateAlone(t *testing.T) {
	e, db := newTestEngine(t, t.TempDir())
	defer db.Close()
	b := mustAdd(t, e, "k", "secret", "api.test")

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"duplicate name", func() error { _, err := e.AddStaticCredential("k", "x"); return err }, ErrConflict},
		{"bad name", func() error { _, err := e.AddStaticCredential("a/b", "x"); return err }, ErrInvalid},
		{"empty secret", func() error { _, err := e.AddStaticCredential("n", ""); return err }, ErrInvalid},
		{"newline in secret", func() error { _, err := e.AddStaticCredential("n", "a\nb"); return err }, ErrInvalid},
		{"bind unknown credential", func() error {
			_, err := e.AddBinding(BindingSpec{Credential: "nope", Destination: "a.test"})
			return err
		}, ErrInvalid},
		{"template without value", func() error {
			_, err := e.AddBinding(BindingSpec{Credential: "k", Destination: "a.test", Template: "x"})
			return err
		}, ErrInvalid},
		{"bad header", func() error {
			_, err := e.AddBinding(BindingSpec{Credential: "k", Destination: "a.test", Header: "a b"})
			return err
		}, ErrInvalid},
		{"bad port", func() error {
			_, err := e.AddBinding(BindingSpec{Credential: "k", Destination: "a.test", Ports: []int{0}})
			return err
		}, ErrInvalid},
		{"update unknown", func() error { return e.UpdateStaticCredential("nope", "x") }, ErrNotFound},
		{"remove unknown binding", func() error { return e.RemoveBinding("bnd_nope") }, ErrNotFound},
		{"remove bound credential", func() error { return e.RemoveCredential("k") }, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if n := len(e.Credentials()); n != 1 {
				t.Errorf("%d credentials after a refused change, want 1", n)
			}
			if bs := e.Bindings(); len(bs) != 1 || bs[0].ID != b.ID {
				t.Errorf("bindings after a refused change = %v, want only %s", bs, b.ID)
			}
		})
	}
}

func TestReferencedErrorNamesTheBindings(t *testing.T) {
	e, db := newTestEngine(t, t.TempDir())
	defer db.Close()
	b := mustAdd(t, e, "k", "secret", "api.test")

	err := e.RemoveCredential("k")
	var ref *ReferencedError
	if !errors.As(err, &ref) || len(ref.Bindings) != 1 || ref.Bindings[0].ID != b.ID {
		t.Fatalf("RemoveCredential = %v, want a ReferencedError naming %s", err, b.ID)
	}
	if !strings.Contains(err.Error(), b.ID) {
		t.Errorf("message %q does not name the binding", err)
	}
}

func TestCredentialsNeverCarrySecrets(t *testing.T) {
	e, db := newTestEngine(t, t.TempDir())
	defer db.Close()
	e.AddStaticCredential("k", "very-secret-value")
	for _, c := range e.Credentials() {
		if strings.Contains(c.Name+c.Type, "very-secret-value") {
			t.Error("a credential listing carries the secret")
		}
	}
}
