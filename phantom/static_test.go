package phantom

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func testCodec(t *testing.T, fill byte) *Codec {
	t.Helper()
	c, err := NewCodec(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStaticPhantomIsStableAndPerInstall(t *testing.T) {
	a, again, b := testCodec(t, 1), testCodec(t, 1), testCodec(t, 2)

	if a.Static("openai") != again.Static("openai") {
		t.Error("the same install minted two phantoms for one name")
	}
	if a.Static("openai") == b.Static("openai") {
		t.Error("two installs minted the same phantom")
	}
	if a.Static("openai") == a.Static("anthropic") {
		t.Error("two names got the same phantom")
	}
}

func TestStaticPhantomNeedsNoEscaping(t *testing.T) {
	safe := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	for _, name := range []string{"a", "openai", "acct.b_c-d", strings.Repeat("x", 64)} {
		p := testCodec(t, 3).Static(name)
		if !safe.MatchString(p) {
			t.Errorf("phantom %q has characters outside A-Z a-z 0-9 . _ -", p)
		}
		if url.QueryEscape(p) != p {
			t.Errorf("phantom %q changes under URL escaping", p)
		}
		if !strings.HasPrefix(p, Prefix+name+"-") {
			t.Errorf("phantom %q does not start with %q", p, Prefix+name+"-")
		}
		if !LooksLikeStatic(p) {
			t.Errorf("phantom %q is not recognised as one", p)
		}
	}
}

func TestStripShapedRemovesStrayPhantoms(t *testing.T) {
	stray := testCodec(t, 9).Static("deleted")
	tests := []struct{ in, want string }{
		{"Bearer " + stray, "Bearer "},
		{"no phantom here", "no phantom here"},
		{"lk-short", "lk-short"},
		{stray + "," + stray, ","},
	}
	for _, tt := range tests {
		if got := StripShaped(tt.in); got != tt.want {
			t.Errorf("StripShaped(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewCodecRefusesShortKey(t *testing.T) {
	if _, err := NewCodec(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
