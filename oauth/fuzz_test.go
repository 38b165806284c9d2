package oauth

import (
	"bytes"
	"encoding/json"
	"testing"
)

// fuzzReal is the real token the grant fuzzer splices in. It needs both
// form and JSON escaping, so a round trip proves the escaping is right.
const fuzzReal = "1//0g real+tok=en&\"q\"\\é"

func FuzzParseGrant(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{jsonCT, codexRefresh},
		{jsonCT, claudeRefresh},
		{geminiCT, geminiRefresh},
		{formCT, codexAuthCode},
		{formCT, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"},
		{formCT, "grant_type=refresh_token&refresh_token"},
		{jsonCT, `{"grant_type":"refresh_token","refresh_token":"a\u0062c","x":[{"y":"}"}]}`},
		{jsonCT, `[1]`},
		{"text/plain", "grant_type=refresh_token"},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		orig := bytes.Clone(body)
		g, ok := ParseGrant(ct, body)
		if !bytes.Equal(body, orig) {
			t.Fatal("ParseGrant modified its input")
		}
		if !ok || g.Type != GrantRefreshToken {
			return
		}
		out, err := ReplaceRefreshToken(g, body, fuzzReal)
		if !bytes.Equal(body, orig) {
			t.Fatal("ReplaceRefreshToken modified its input")
		}
		if err != nil || len(out) > MaxProbe {
			return
		}
		g2, ok := ParseGrant(ct, out)
		if !ok {
			t.Fatalf("spliced body %q does not parse", out)
		}
		want := g
		want.RefreshToken = fuzzReal
		if g2 != want {
			t.Fatalf("spliced body parses to %+v, want %+v", g2, want)
		}
	})
}

func FuzzRewriteTokenResponse(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{jsonCT, `{"access_token":"at-real-12345","refresh_token":"rt-real-12345",` +
			`"id_token":"h.p.s","expires_in":3600,"scope":"a b"}`},
		{jsonCT, `{ "id_token" : "idtok-real-1" , "access_token":"a\/b\u0063-real-x" }`},
		{"", `{"access_token":"at-real-12345","nested":{"k":["at-real-12345"]}}`},
		{formCT, "access_token=gho_abcdefgh&scope=repo%2Cgist&token_type=bearer"},
		{formCT, "refresh_token=rt-real-12345&access_token=at%2Dreal%2D1&&x\n"},
		{"text/plain", "access_token=a"},
		{jsonCT, `{"error":"invalid_grant"}`},
	} {
		for mode := range uint8(4) {
			f.Add(s.ct, []byte(s.body), mode)
		}
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, mode uint8) {
		orig, err := ParseTokenResponse(ct, body)
		if err != nil {
			if out, err := RewriteTokenResponse(ct, body, Tokens{AccessToken: "p"}); err == nil {
				t.Fatalf("rewrite of an unparsable body succeeded: %q", out)
			}
			return
		}
		// mode picks which substitutes are empty, to exercise removal.
		subst := Tokens{AccessToken: "lk-at-phantom"}
		if mode&1 == 0 {
			subst.RefreshToken = "lk-rt-phantom"
		}
		if mode&2 == 0 {
			subst.IDToken = "lk.id.phantom"
		}
		out, err := RewriteTokenResponse(ct, body, subst)
		if err != nil {
			return
		}
		for _, v := range []string{orig.AccessToken, orig.RefreshToken, orig.IDToken} {
			if len(v) >= minLeakLen && bytes.Contains(out, []byte(v)) {
				t.Fatalf("output %q still holds %q", out, v)
			}
		}
		f1, _ := responseFormat(ct, body)
		if f2, err := responseFormat(ct, out); err != nil || f2 != f1 {
			return // removing a leading pair can make a form body look like JSON
		}
		got, err := ParseTokenResponse(ct, out)
		if err != nil {
			t.Fatalf("rewritten body %q does not parse: %v", out, err)
		}
		if got.AccessToken != subst.AccessToken {
			t.Fatalf("rewritten access token %q", got.AccessToken)
		}
		if orig.RefreshToken != "" && got.RefreshToken != subst.RefreshToken {
			t.Fatalf("rewritten refresh token %q", got.RefreshToken)
		}
		if orig.IDToken != "" && got.IDToken != subst.IDToken {
			t.Fatalf("rewritten id token %q", got.IDToken)
		}
		if got.ExpiresIn != orig.ExpiresIn || got.HasExpiresIn != orig.HasExpiresIn {
			t.Fatalf("expires_in changed from %v to %v", orig.ExpiresIn, got.ExpiresIn)
		}
	})
}

// FuzzObjectMembers checks the byte-offset scanner against encoding/json:
// splicing is only safe if latchkey finds the same members, with the same
// values, as the upstream's JSON parser does.
func FuzzObjectMembers(f *testing.F) {
	for _, s := range []string{codexRefresh, claudeRefresh, `{"a":{"b":["}",1]},"c\"":"\u0041"}`,
		`{}`, ` { "x" : -0.5e+3 , "y":[true,false,null] } `, `[1]`, `{"a":1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := objectMembers(body)
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("scanner accepted a non-object: %v %v", tok, err)
		}
		n := 0
		for i := 0; dec.More(); i++ {
			n++
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			if i >= len(ms) {
				t.Fatalf("scanner found %d members, decoder more", len(ms))
			}
			if tok.(string) != ms[i].key {
				t.Fatalf("member %d key %q, decoder %q", i, ms[i].key, tok)
			}
			var a, b bytes.Buffer
			if json.Compact(&a, body[ms[i].valStart:ms[i].valEnd]) != nil ||
				json.Compact(&b, raw) != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("member %d value %q, decoder %q", i,
					body[ms[i].valStart:ms[i].valEnd], raw)
			}
			if ms[i].keyStart <= 0 || body[ms[i].keyStart] != '"' {
				t.Fatalf("member %d key offset %d", i, ms[i].keyStart)
			}
		}
		if n != len(ms) {
			t.Fatalf("scanner found %d members, decoder %d", len(ms), n)
		}
	})
}
