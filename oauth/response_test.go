package oauth

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

const (
	realAT = "at-real-4f9c2b7e1d"
	realRT = "rt-real-8a3e6f0c5b"
	realID = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"

	phAT = "lk-at-phantom"
	phRT = "lk-rt-phantom"
	phID = "lk.id.phantom"
)

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
		want Tokens
	}{
		{"json expires_in number", jsonCT,
			`{"access_token":"` + realAT + `","refresh_token":"` + realRT +
				`","id_token":"` + realID + `","expires_in":3600,"token_type":"Bearer"}`,
			Tokens{realAT, realRT, realID, time.Hour, true}},
		{"json expires_in string", jsonCT,
			`{"access_token":"` + realAT + `","expires_in":"3600"}`,
			Tokens{AccessToken: realAT, ExpiresIn: time.Hour, HasExpiresIn: true}},
		{"json expires_in fraction", jsonCT, `{"access_token":"a","expires_in":1.5}`,
			Tokens{AccessToken: "a", ExpiresIn: 1500 * time.Millisecond, HasExpiresIn: true}},
		{"json expires_in zero", jsonCT, `{"access_token":"a","expires_in":0}`,
			Tokens{AccessToken: "a", HasExpiresIn: true}},
		{"json expires_in negative is ignored", jsonCT, `{"access_token":"a","expires_in":-5}`,
			Tokens{AccessToken: "a"}},
		{"json expires_in garbage is ignored", jsonCT,
			`{"access_token":"a","expires_in":"soon"}`, Tokens{AccessToken: "a"}},
		{"json expires_in huge is ignored", jsonCT,
			`{"access_token":"a","expires_in":1e300}`, Tokens{AccessToken: "a"}},
		{"json null refresh_token is absent", jsonCT,
			`{"access_token":"a","refresh_token":null}`, Tokens{AccessToken: "a"}},
		{"json escapes are decoded", jsonCT, `{"access_token":"1\/\/0g\u0041"}`,
			Tokens{AccessToken: "1//0gA"}},
		{"json detected by brace despite text/html", "text/html; charset=utf-8",
			` {"access_token":"a"}`, Tokens{AccessToken: "a"}},
		{"problem+json type", "application/problem+json", `{"access_token":"a"}`,
			Tokens{AccessToken: "a"}},
		{"github form", "application/x-www-form-urlencoded; charset=utf-8",
			"access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist" +
				"&token_type=bearer",
			Tokens{AccessToken: "gho_16C7e42F292c6912E7710c838347Ae178B4a"}},
		{"form with expires_in and trailing newline", "",
			"access_token=a%2Bb&refresh_token=r&expires_in=28800\n",
			Tokens{AccessToken: "a+b", RefreshToken: "r", ExpiresIn: 8 * time.Hour,
				HasExpiresIn: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTokenResponse(tt.ct, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseTokenResponse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseTokenResponseErrors(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
		is   error // nil: any error
	}{
		{"json missing access_token", jsonCT, `{"refresh_token":"` + realRT + `"}`,
			ErrNoAccessToken},
		{"json empty access_token", jsonCT, `{"access_token":""}`, ErrNoAccessToken},
		{"oauth error body", jsonCT, `{"error":"invalid_grant"}`, ErrNoAccessToken},
		{"form missing access_token", formCT, "error=bad_verification_code", ErrNoAccessToken},
		{"garbage json", jsonCT, `{"access_token":"` + realAT + `"`, nil},
		{"garbage bytes", "application/octet-stream", "\x00\x01" + realAT, nil},
		{"json array", jsonCT, `[{"access_token":"` + realAT + `"}]`, nil},
		{"json number access_token", jsonCT, `{"access_token":12345678}`, nil},
		{"json object id_token", jsonCT,
			`{"access_token":"a","id_token":{"t":"` + realID + `"}}`, nil},
		{"json access_token twice", jsonCT,
			`{"access_token":"` + realAT + `","access_token":"x"}`, nil},
		{"form access_token twice", formCT, "access_token=" + realAT + "&access_token=x", nil},
		{"form bad escape", formCT, "access_token=" + realAT + "%g1", nil},
		{"html page", "text/html", "<html>" + realAT + "</html>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTokenResponse(tt.ct, []byte(tt.body))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

// assertNoSecret fails if s holds any of the test's real token values.
func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, v := range []string{realAT, realRT, realID} {
		if strings.Contains(s, v) {
			t.Fatalf("%q contains a real token", s)
		}
	}
}

func TestRewriteTokenResponse(t *testing.T) {
	all := Tokens{AccessToken: phAT, RefreshToken: phRT, IDToken: phID}
	tests := []struct {
		name  string
		ct    string
		body  string
		subst Tokens
		want  string
	}{
		{"codex json keeps order and spacing", jsonCT,
			`{ "id_token": "` + realID + `", "access_token":"` + realAT +
				`",` + "\n" + `"refresh_token" : "` + realRT + `" }`,
			all,
			`{ "id_token": "` + phID + `", "access_token":"` + phAT +
				`",` + "\n" + `"refresh_token" : "` + phRT + `" }`},
		{"claude json keeps scope, expires_in and nested objects", jsonCT,
			`{"token_type":"Bearer","access_token":"` + realAT + `","expires_in":28800,` +
				`"refresh_token":"` + realRT + `","scope":"user:inference user:profile",` +
				`"organization":{"uuid":"o-1","name":"Acme"},` +
				`"account":{"uuid":"u-1","email_address":"a@example.com"},"x":1.0e2}`,
			all,
			`{"token_type":"Bearer","access_token":"` + phAT + `","expires_in":28800,` +
				`"refresh_token":"` + phRT + `","scope":"user:inference user:profile",` +
				`"organization":{"uuid":"o-1","name":"Acme"},` +
				`"account":{"uuid":"u-1","email_address":"a@example.com"},"x":1.0e2}`},
		{"google json without refresh_token gets none added", jsonCT,
			`{"access_token":"` + realAT + `","expires_in":3599,"scope":"openid",` +
				`"token_type":"Bearer","id_token":"` + realID + `"}`,
			all,
			`{"access_token":"` + phAT + `","expires_in":3599,"scope":"openid",` +
				`"token_type":"Bearer","id_token":"` + phID + `"}`},
		{"empty substitute removes a middle field", jsonCT,
			`{"access_token":"` + realAT + `", "id_token":"` + realID + `", "scope":"s"}`,
			Tokens{AccessToken: phAT},
			`{"access_token":"` + phAT + `", "scope":"s"}`},
		{"empty substitute removes the first and last fields", jsonCT,
			`{ "id_token":"` + realID + `", "access_token":"` + realAT + `", "refresh_token":"` +
				realRT + `" }`,
			Tokens{AccessToken: phAT},
			`{ "access_token":"` + phAT + `" }`},
		{"removing every field leaves an empty object", jsonCT,
			`{"access_token":"` + realAT + `"}`, Tokens{}, `{}`},
		{"json null stays null", jsonCT,
			`{"access_token":"` + realAT + `","refresh_token":null}`, all,
			`{"access_token":"` + phAT + `","refresh_token":null}`},
		{"escaped real value is replaced whole", jsonCT,
			`{"access_token":"1\/\/` + realAT + `"}`, all, `{"access_token":"` + phAT + `"}`},
		{"substitute is json-escaped", jsonCT, `{"access_token":"` + realAT + `"}`,
			Tokens{AccessToken: `p"h<`}, `{"access_token":"p\"h<"}`},
		{"github form keeps other pairs", "application/x-www-form-urlencoded",
			"access_token=" + realAT + "&scope=repo%2Cgist&token_type=bearer", all,
			"access_token=" + phAT + "&scope=repo%2Cgist&token_type=bearer"},
		{"form removes a pair and keeps the trailing newline", formCT,
			"scope=a+b&refresh_token=" + realRT + "&access_token=" + realAT + "\n",
			Tokens{AccessToken: "p h"}, "scope=a+b&access_token=p+h\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteTokenResponse(tt.ct, []byte(tt.body), tt.subst)
			if err != nil {
				t.Fatalf("RewriteTokenResponse: %v", err)
			}
			if string(out) != tt.want {
				t.Fatalf("got  %s\nwant %s", out, tt.want)
			}
			assertNoSecret(t, string(out))
		})
	}
}

func TestRewriteTokenResponseTokenElsewhere(t *testing.T) {
	all := Tokens{AccessToken: phAT, RefreshToken: phRT, IDToken: phID}
	tests := []struct {
		name string
		ct   string
		body string
	}{
		{"access token inside scope", jsonCT,
			`{"access_token":"` + realAT + `","scope":"x ` + realAT + `"}`},
		{"refresh token in a nested object", jsonCT,
			`{"access_token":"` + realAT + `","refresh_token":"` + realRT +
				`","meta":{"previous":["` + realRT + `"]}}`},
		{"refresh token escaped in another string", jsonCT,
			`{"access_token":"` + realAT + `","refresh_token":"` + realRT +
				`","note":"` + strings.Replace(realRT, "-", `\u002d`, -1) + `"}`},
		{"access token as a key", jsonCT,
			`{"access_token":"` + realAT + `","x":{"` + realAT + `":1}}`},
		{"access token in another form pair", formCT,
			"access_token=" + realAT + "&state=" + realAT},
		{"access token percent-encoded in another form pair", formCT,
			"access_token=" + realAT + "&state=" + strings.Replace(realAT, "-", "%2D", -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteTokenResponse(tt.ct, []byte(tt.body), all)
			if !errors.Is(err, ErrTokenElsewhere) {
				t.Fatalf("got %q, %v; want ErrTokenElsewhere", out, err)
			}
		})
	}
}

func TestRewriteTokenResponseErrors(t *testing.T) {
	tests := []struct {
		name  string
		ct    string
		body  string
		subst Tokens
	}{
		{"no access token", jsonCT, `{"refresh_token":"` + realRT + `"}`,
			Tokens{AccessToken: phAT}},
		{"garbage", jsonCT, `{"access_token":"` + realAT, Tokens{AccessToken: phAT}},
		{"unsupported type", "image/png", "access_token=" + realAT, Tokens{AccessToken: phAT}},
		{"substitute not utf-8", jsonCT, `{"access_token":"` + realAT + `"}`,
			Tokens{AccessToken: "\xff"}},
		{"phantom contains the real token", jsonCT, `{"access_token":"` + realAT + `"}`,
			Tokens{AccessToken: "x" + realAT}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RewriteTokenResponse(tt.ct, []byte(tt.body), tt.subst)
			if err == nil {
				t.Fatalf("no error, got %q", out)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// closeTracker records whether the body was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestDecodeBody(t *testing.T) {
	plain := []byte(`{"access_token":"` + realAT + `"}`)
	big := bytes.Repeat([]byte("a"), 1<<20)
	tests := []struct {
		name    string
		ce      string
		body    []byte
		limit   int64
		want    []byte
		wantErr error // nil: no error unless wantAny
		wantAny bool
	}{
		{"identity", "", plain, 1024, plain, nil, false},
		{"identity exactly at the limit", "identity", plain, int64(len(plain)), plain, nil, false},
		{"gzip", "gzip", gzipped(t, plain), 1024, plain, nil, false},
		{"identity over the limit", "", plain, int64(len(plain)) - 1, nil, ErrBodyTooLarge, false},
		{"gzip bomb stops at the decoded limit", "gzip", gzipped(t, big), 64 << 10, nil,
			ErrBodyTooLarge, false},
		{"unsupported encoding", "compress", plain, 1024, nil, nil, true},
		{"corrupt gzip", "gzip", []byte("not gzip"), 1024, nil, nil, true},
		{"negative limit", "", plain, -1, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &closeTracker{Reader: bytes.NewReader(tt.body)}
			got, err := DecodeBody(tt.ce, body, tt.limit)
			if !body.closed {
				t.Error("body was not closed")
			}
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
			case tt.wantAny:
				if err == nil {
					t.Fatal("no error")
				}
			case err != nil:
				t.Fatalf("DecodeBody: %v", err)
			case !bytes.Equal(got, tt.want):
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeBodyNil(t *testing.T) {
	if b, err := DecodeBody("gzip", nil, 10); err != nil || len(b) != 0 {
		t.Fatalf("got %q, %v", b, err)
	}
}

func TestRewriteTokenResponseLeavesEmptyValues(t *testing.T) {
	subst := Tokens{AccessToken: phAT, RefreshToken: phRT, IDToken: phID}
	tests := []struct{ ct, body, want string }{
		{jsonCT, `{"access_token":"` + realAT + `","refresh_token":"","id_token":null}`,
			`{"access_token":"` + phAT + `","refresh_token":"","id_token":null}`},
		{formCT, "access_token=" + realAT + "&refresh_token=&id_token",
			"access_token=" + phAT + "&refresh_token=&id_token"},
	}
	for _, tt := range tests {
		out, err := RewriteTokenResponse(tt.ct, []byte(tt.body), subst)
		if err != nil || string(out) != tt.want {
			t.Errorf("got %q, %v; want %q", out, err, tt.want)
		}
	}
}
