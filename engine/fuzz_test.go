package engine

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/store"
)

// FuzzHostGlob checks host glob validation and matching against what the
// rules say a glob means (see hostglob.go): a valid glob is canonical and
// stays itself when validated again; a match is the glob itself, or for
// "*.x" a host with at least one more label ending in ".x", or anything for
// "*"; and case and a trailing dot of the host do not matter.
func FuzzHostGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"api.openai.com", "api.openai.com"},
		{"*.example.com", "a.b.example.com"},
		{"*.example.com", "example.com"},
		{"*.example.com", "evilexample.com"},
		{"*.example.com", "example.com.evil.net"},
		{"*", "anything"},
		{"API.Test.", "api.test"},
		{"10.0.0.1", "10.0.0.1"},
		{"[::1]", "::1"},
		{"::ffff:127.0.0.1", "127.0.0.1"},
		{"*.*.example.com", "a.b.example.com"},
		{"a*.example.com", "ab.example.com"},
		{"xn--bcher-kva.example", "XN--BCHER-KVA.example."},
		{"*.", "a."},
		{"_srv.example.com", "_srv.example.com"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, glob, host string) {
		g, err := validateHostGlob(glob)
		if err != nil {
			return
		}
		if again, err := validateHostGlob(g); err != nil || again != g {
			t.Fatalf("validating the canonical glob %q again gave %q, %v", g, again, err)
		}
		if g != strings.ToLower(g) || strings.HasSuffix(g, ".") {
			t.Fatalf("canonical glob %q has upper case or a trailing dot", g)
		}
		h := canonicalHost(host)
		got := matchHostGlob(g, h)
		var want bool
		switch {
		case g == "*":
			want = true
		case strings.HasPrefix(g, "*."):
			suffix := g[1:]
			want = strings.HasSuffix(h, suffix) && len(h) > len(suffix)
		default:
			want = h == g
		}
		if got != want {
			t.Fatalf("matchHostGlob(%q, %q) = %v, the rules say %v", g, h, got, want)
		}
		if got && g != "*" && h != g && !strings.HasSuffix(h, g[1:]) {
			t.Fatalf("%q matched %q, which does not end in the glob's literal part", g, h)
		}
		// Case and one trailing dot of an ASCII host do not matter.
		if isASCII(host) && !strings.HasSuffix(host, ".") {
			other := canonicalHost(strings.ToUpper(host) + ".")
			if matchHostGlob(g, other) != got {
				t.Fatalf("matchHostGlob(%q, %q) = %v but %q, the same host, gives %v", g, h,
					got, other, !got)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// planWorld is an engine with credentials bound in every way a binding can
// be made. Every real value is 24 copies of one upper-case letter, distinct
// per value, and the fuzzed request text is lower-cased, so an upper-case
// run in a swapped request can only be a real value latchkey put there.
type planWorld struct {
	eng      *Engine
	reals    map[string][]string // identity → every real value it owns
	phantoms []string            // every phantom of every identity
	owner    map[string]string   // phantom → identity
}

// planReal is the real value with letter c.
func planReal(c byte) string { return strings.Repeat(string(c), 24) }

// planBound says whether an identity is bound to host:port, from the
// bindings newPlanWorld makes: the rules written out once more.
func planBound(identity, host string, port int) bool {
	switch identity {
	case "s-api":
		return host == "api.test"
	case "s-wild":
		return port == 443 && strings.HasSuffix(host, ".example.com") &&
			len(host) > len(".example.com")
	case "s-ip":
		return host == "10.1.2.3"
	case "o-api":
		return host == "api.test" && port == 8443
	case "pool":
		return host == "chatgpt.test"
	case "s-multi":
		return host == "a.test" || host == "b.test"
	}
	return false
}

func newPlanWorld(t testing.TB) *planWorld {
	db, err := store.Open(store.Options{Dir: t.TempDir(), EncryptionKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := New(db, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	must := func(_ any, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	w := &planWorld{eng: e, reals: map[string][]string{}, owner: map[string]string{}}
	static := map[string]byte{
		"s-api": 'A', "s-wild": 'B', "s-ip": 'C', "s-unbound": 'D',
		"s-multi": 'N',
	}
	for _, name := range slices.Sorted(maps.Keys(static)) {
		must(e.AddStaticCredential(name, planReal(static[name])))
		w.reals[name] = []string{planReal(static[name])}
	}
	for _, o := range []struct {
		name                     string
		access, refresh, account byte
	}{
		{"o-api", 'E', 'F', 'G'},
		{"o-m1", 'H', 'I', 'J'},
		{"o-m2", 'K', 'L', 'M'},
		{"o-unbound", 'O', 'P', 'Q'},
	} {
		must(e.AddOAuthCredential(OAuthSpec{
			Name: o.name, AccessToken: planReal(o.access),
			RefreshToken: planReal(o.refresh), AccountID: planReal(o.account),
			TokenURL: "https://auth.test/oauth/token",
		}))
		w.reals[o.name] = []string{planReal(o.access), planReal(o.refresh), planReal(o.account)}
	}
	must(e.CreatePool(PoolSpec{Name: "pool", Members: []string{"o-m1", "o-m2"}}))
	w.reals["pool"] = nil // its members' values are its own
	for _, b := range []BindingSpec{
		{Credential: "s-api", Destination: "api.test"},
		{Credential: "s-wild", Destination: "*.example.com", Ports: []int{443}},
		{Credential: "s-ip", Destination: "10.1.2.3"},
		{Credential: "o-api", Destination: "API.test.", Ports: []int{8443}},
		{Credential: "pool", Destination: "chatgpt.test"},
		{Credential: "s-multi", Destination: "a.test"},
		{Credential: "s-multi", Destination: "b.test", Header: "X-Key", Template: "k={value}"},
	} {
		must(e.AddBinding(b))
	}
	s := e.current.Load()
	for _, id := range s.identities {
		for _, ph := range []string{id.access, id.refresh, id.account} {
			if ph != "" {
				w.phantoms = append(w.phantoms, ph)
				w.owner[ph] = id.name
			}
		}
	}
	slices.Sort(w.phantoms)
	return w
}

// FuzzPlanInjectsOnlyWhereBound checks SPEC invariant 2 on the engine's
// plans for any destination and any request text: only the identities
// bound to the destination get a header; the swapped request holds a real
// value only of an identity bound there (for a pool, only its active
// member's access token and account id; refresh tokens never), and holds
// it wherever its phantom was; the streaming swap gives the same bytes; and
// the response swap scrubs every real value of the bound identities.
func FuzzPlanInjectsOnlyWhereBound(f *testing.F) {
	for _, s := range []struct {
		host string
		port uint16
		body string
	}{
		{"api.test", 443, "Bearer \x00 and \x00\x00"},
		{"API.TEST", 8443, "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"x.example.com", 443, "token=\x00&x=\x00"},
		{"x.example.com", 80, "\x00"},
		{"example.com", 443, "\x00"},
		{"10.1.2.3", 443, "\x00 \x00"},
		{"chatgpt.test", 443, "{\"a\":\"\x00\",\"b\":\"\x00\"}"},
		{"a.test", 1, "lk-\x00-\x00"},
		{"evil.test", 443, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"auth.test", 443, "grant_type=refresh_token&refresh_token=\x00"},
		{"", 0, ""},
	} {
		f.Add(s.host, s.port, []byte(s.body), uint8(3))
	}
	w := newPlanWorld(f)
	f.Fuzz(func(t *testing.T, host string, port uint16, body []byte, chunk uint8) {
		// What the proxy hands the engine: a canonical host.
		h := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host,
			"["), "]"), "."))
		p := w.eng.Plan(h, int(port))
		active := w.eng.current.Load().records.active["pool"]
		if active == "" {
			active = "o-m1"
		}

		// The request text: the fuzzer's bytes in lower case, with every
		// NUL replaced by the next phantom.
		// Bounded, so that an input of many NULs stays cheap.
		if len(body) > 4096 {
			body = body[:4096]
		}
		var b strings.Builder
		placed := map[string]bool{}
		next := int(chunk)
		for _, c := range bytes.ToLower(body) {
			if c != 0 || next-int(chunk) >= 64 {
				b.WriteByte(c)
				continue
			}
			ph := w.phantoms[next%len(w.phantoms)]
			next++
			b.WriteString(ph)
			placed[ph] = true
		}
		in := b.String()

		bound := map[string]bool{}
		for id := range w.reals {
			bound[id] = planBound(id, h, int(port))
		}
		for _, rule := range p.Headers {
			if !bound[rule.Identity] {
				t.Fatalf("plan for %s:%d has a header rule for %s, which is not bound there",
					h, port, rule.Identity)
			}
		}
		for id, ok := range bound {
			if ok && !slices.ContainsFunc(p.Headers, func(r HeaderRule) bool { return r.Identity == id }) {
				t.Fatalf("plan for %s:%d has no header rule for %s, which is bound there", h,
					port, id)
			}
		}

		out, _ := p.Request.Replace(in)
		allowed := map[string]bool{}
		for id, ok := range bound {
			if !ok {
				continue
			}
			switch id {
			case "pool":
				allowed[w.reals[active][0]], allowed[w.reals[active][2]] = true, true
			case "o-api":
				allowed[w.reals[id][0]], allowed[w.reals[id][2]] = true, true
			default:
				allowed[w.reals[id][0]] = true
			}
		}
		for id, reals := range w.reals {
			for _, real := range reals {
				if strings.Contains(out, real) && !allowed[real] {
					t.Fatalf("request to %s:%d carries a real value of %s, which may not go "+
						"there\nin:  %q\nout: %q", h, port, id, in, out)
				}
			}
		}
		for ph := range placed {
			id := w.owner[ph]
			if !bound[id] {
				continue
			}
			if ph == w.eng.current.Load().identities[id].refresh {
				continue
			}
			member := id
			if id == "pool" {
				member = active
			}
			real := w.reals[member][0]
			if ph == w.eng.current.Load().identities[id].account {
				real = w.reals[member][2]
			}
			if !strings.Contains(out, real) {
				t.Fatalf("request to %s:%d held a phantom of %s, bound there, but no real value "+
					"came of it\nin:  %q\nout: %q", h, port, id, in, out)
			}
		}

		// The streaming swap gives the same bytes, in any chunking.
		size := 1 + int(chunk)%17
		rd := p.Request.NewReader(io.NopCloser(&chunkReader{s: in, n: size}))
		streamed, err := io.ReadAll(rd)
		if err != nil || string(streamed) != out {
			t.Fatalf("streaming swap in chunks of %d gave %q (%v), Replace gave %q", size,
				streamed, err, out)
		}

		// The response swap scrubs every real value of the bound
		// identities (every member of a bound pool).
		var echo []string
		for id, ok := range bound {
			if !ok {
				continue
			}
			switch id {
			case "pool":
				echo = append(echo, w.reals["o-m1"][0], w.reals["o-m2"][0])
			default:
				echo = append(echo, w.reals[id][0])
			}
		}
		scrubbed, _ := p.Response.Replace(strings.Join(echo, " | "))
		for _, real := range echo {
			if strings.Contains(scrubbed, real) {
				t.Fatalf("response from %s:%d echoing %q still holds it after the swap: %q", h,
					port, real, scrubbed)
			}
		}
	})
}

// chunkReader reads s at most n bytes at a time.
type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.s))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}
