package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// BasicAuth is the proxy authentication agents must present.
type BasicAuth struct {
	// Username is the expected user name. Placeholders such as
	// {env.LATCHKEY_PROXY_USER} are replaced at provisioning.
	Username string `json:"username"`

	// Password is the expected password. Use a placeholder such as
	// {env.LATCHKEY_PROXY_PASSWORD} to keep it out of the config.
	Password string `json:"password"`

	// want is the digest of "user:password", compared in constant time.
	want [sha256.Size]byte
}

func (b *BasicAuth) provision() error {
	repl := caddy.NewReplacer()
	user := repl.ReplaceKnown(b.Username, "")
	pass := repl.ReplaceKnown(b.Password, "")
	if user == "" || pass == "" {
		return errors.New("basic_auth needs a user name and a password")
	}
	b.want = sha256.Sum256([]byte(user + ":" + pass))
	return nil
}

// check reports whether a Proxy-Authorization header value carries the
// expected credentials.
func (b *BasicAuth) check(header string) bool {
	scheme, encoded, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return false
	}
	got := sha256.Sum256(raw)
	return subtle.ConstantTimeCompare(got[:], b.want[:]) == 1
}

// authorized answers 407 and returns false when proxy authentication is
// configured and the request does not carry it.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.BasicAuth == nil || h.BasicAuth.check(r.Header.Get("Proxy-Authorization")) {
		return true
	}
	w.Header().Set("Proxy-Authenticate", `Basic realm="latchkey"`)
	http.Error(w, "latchkey: proxy authentication required", http.StatusProxyAuthRequired)
	return false
}
