package engine

import (
	"bytes"
	"testing"

	"github.com/latchkeyproxy/latchkey/store"
)

// benchEngine is an engine with what a busy install holds: a static
// credential bound to its API host, a two-member OAuth pool bound to
// another, and a few credentials bound elsewhere whose phantoms every plan
// must strip.
func benchEngine(b *testing.B) *Engine {
	b.Helper()
	db, err := store.Open(store.Options{
		Dir:           b.TempDir(),
		EncryptionKey: bytes.Repeat([]byte{5}, store.EncryptionKeySize),
	})
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(db, nil)
	if err != nil {
		db.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(); db.Close() })

	static := map[string]string{
		"openai": "api.openai.com", "anthropic": "api.anthropic.com",
		"github": "api.github.com", "gitlab": "*.gitlab.com",
	}
	for name, host := range static {
		if _, err := e.AddStaticCredential(name, "sk-"+name+"-0123456789abcdef0123456789"); err != nil {
			b.Fatal(err)
		}
		if _, err := e.AddBinding(BindingSpec{Credential: name, Destination: host}); err != nil {
			b.Fatal(err)
		}
	}
	for _, m := range []string{"acct_a", "acct_b"} {
		if _, err := e.AddOAuthCredential(OAuthSpec{
			Name: m, AccessToken: "at-" + m + "-0123456789",
			RefreshToken: "rt-" + m + "-0123456789", TokenURL: "https://auth.openai.com/oauth/token",
			AccountID: "acct-" + m,
		}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.CreatePool(PoolSpec{Name: "codex", Members: []string{"acct_a", "acct_b"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.AddBinding(BindingSpec{Credential: "codex", Destination: "chatgpt.com"}); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkPlan is the per-request phantom lookup: the plan of a
// destination, cached per snapshot.
func BenchmarkPlan(b *testing.B) {
	e := benchEngine(b)
	for _, host := range []string{"api.openai.com", "chatgpt.com", "unbound.example"} {
		b.Run("cached/"+host, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if p := e.Plan(host, 443); p == nil {
					b.Fatal("no plan")
				}
			}
		})
	}
	b.Run("cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.Plan("api.openai.com", 443)
			}
		})
	})
	// A miss: what the first request to a destination after a change
	// costs.
	b.Run("build", func(b *testing.B) {
		s := e.current.Load()
		b.ReportAllocs()
		for b.Loop() {
			buildPlan(s, "chatgpt.com", 443)
		}
	})
}

// BenchmarkHeaderSwap replaces a pool's access phantom in an Authorization
// value and reports which identity matched, as injection does for every
// header that is not a bound one.
func BenchmarkHeaderSwap(b *testing.B) {
	e := benchEngine(b)
	p := e.Plan("chatgpt.com", 443)
	ph, err := e.Phantom("codex")
	if err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + ph.AccessToken
	b.Run("match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, m := p.Request.Replace(header)
			if out == header || len(p.Injected(m)) != 1 {
				b.Fatal("no injection")
			}
		}
	})
	b.Run("no-match", func(b *testing.B) {
		ua := "codex_cli_rs/0.50.0 (Ubuntu 24.4.0; x86_64) xterm-256color"
		b.ReportAllocs()
		for b.Loop() {
			if _, m := p.Request.Replace(ua); m.Any() {
				b.Fatal("unexpected match")
			}
		}
	})
}

// BenchmarkRefreshIdentity is the lookup of a refresh phantom at a token
// host.
func BenchmarkRefreshIdentity(b *testing.B) {
	e := benchEngine(b)
	ph, err := e.Phantom("codex")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := e.RefreshIdentity(ph.RefreshToken); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkCount is the monitoring counter every injection bumps.
func BenchmarkCount(b *testing.B) {
	e := benchEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Count(MetricInjections, "openai", "")
		}
	})
}
