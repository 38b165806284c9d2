package phantom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/latchkeyproxy/latchkey/oauth"
)

// accessClaims are the claims of an access phantom. They depend only on
// the identity's name, so the phantom is byte-identical across member
// switches, refreshes and restarts.
//
// There is deliberately no "exp": a client that reads it refreshes a few
// minutes before it (Codex does), and a far-future one switches off the
// Codex CLI's scheduled refresh, which is how latchkey learns the client's
// refresh request. latchkey refreshes the real tokens behind the phantom
// itself.
type accessClaims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Kind    string `json:"latchkey_kind"`
}

// Access returns the access phantom of an OAuth credential or pool: a JWT
// (some clients decode access tokens) signed with a key derived from the
// install's phantom key. kind is "oauth" or "pool".
func (c *Codec) Access(kind, name string) string {
	claims, err := json.Marshal(accessClaims{Issuer: "latchkey", Subject: name, Kind: kind})
	if err != nil {
		panic(err) // a struct of strings and an int always marshals
	}
	return oauth.SignJWT(c.subkey("jwt"), claims)
}

// Refresh returns the refresh phantom of an OAuth credential or pool. It
// has the static phantom's shape, so strays are recognised the same way.
func (c *Codec) Refresh(name string) string {
	return Prefix + "rt-" + name + "-" + c.tag("refresh", name)
}

// AccountID returns the phantom account id of an identity, shaped like
// the UUIDs providers use, so clients that check an account id (Codex's
// workspace check) see one stable value whichever real account serves.
func (c *Codec) AccountID(name string) string {
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte("account\x00" + name))
	b := mac.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x80 // UUID version 8: custom
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IDToken returns the phantom id token for a real one: the real claims
// with the real account ids replaced by phantom ones, signed with the
// install's key. replace maps real values to phantom values.
func (c *Codec) IDToken(real string, replace map[string]string) (string, error) {
	return oauth.PhantomIDToken(c.subkey("jwt"), real, replace)
}

// subkey derives a key for one purpose, so that a key used to sign JWTs
// is never the one that tags phantoms.
func (c *Codec) subkey(purpose string) []byte {
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte("subkey\x00" + purpose))
	return mac.Sum(nil)
}
