package phantom

import (
	"encoding/json"
	"testing"

	"github.com/latchkeyproxy/latchkey/oauth"
)

// TestAccessPhantomHasNoExpiry guards the Codex CLI's scheduled refresh:
// with any readable "exp" in the access token it never refreshes on its
// own, and a near one would make it refresh on every start.
func TestAccessPhantomHasNoExpiry(t *testing.T) {
	c := testCodec(t, 4)
	raw, err := oauth.DecodeJWTClaims(c.Access("pool", "codex"))
	if err != nil {
		t.Fatalf("the access phantom is not a JWT: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["exp"]; ok {
		t.Errorf("access phantom claims %s carry exp", raw)
	}
	if claims["sub"] != "codex" {
		t.Errorf("claims %s do not name the identity", raw)
	}
}

func TestOAuthPhantomsAreStableAndDistinct(t *testing.T) {
	a, again, b := testCodec(t, 5), testCodec(t, 5), testCodec(t, 6)
	if a.Access("pool", "p") != again.Access("pool", "p") || a.Refresh("p") != again.Refresh("p") ||
		a.AccountID("p") != again.AccountID("p") {
		t.Error("one install minted two different phantoms for one pool")
	}
	if a.Access("pool", "p") == b.Access("pool", "p") || a.Refresh("p") == b.Refresh("p") {
		t.Error("two installs minted the same pool phantoms")
	}
	if !LooksLikeStatic(a.Refresh("p")) {
		t.Errorf("refresh phantom %q is not recognisable", a.Refresh("p"))
	}
}
