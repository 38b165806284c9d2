// Package phantom makes the stand-in values that agents hold instead of real
// secrets.
//
// A phantom is worthless outside latchkey: it is derived from the credential
// name and a random key that is generated once per install, so two installs
// never share phantoms and nobody can forge one without the key. Phantoms use
// only characters that need no escaping in URLs, headers, JSON or form
// bodies, so the proxy never has to look for escaped variants.
package phantom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"regexp"
	"strings"
)

// Prefix starts every static phantom. It makes phantoms recognisable in
// traffic and in an agent's configuration.
const Prefix = "lk-"

// tagLen is the length of the keyed tag at the end of a static phantom:
// 16 base32 characters carry 80 bits of the HMAC.
const tagLen = 16

// KeySize is the length in bytes of a per-install phantom key.
const KeySize = 32

// tagEncoding is lower-case base32 without padding: letters and digits only.
var tagEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").
	WithPadding(base32.NoPadding)

// shape matches anything that looks like a static phantom, whether or not
// this install minted it. Names follow the credential name alphabet.
var shape = regexp.MustCompile(`lk-[A-Za-z0-9._-]{1,64}-[a-z2-7]{16}`)

// Codec mints phantoms with one install's key. It is immutable and safe for
// concurrent use.
type Codec struct {
	key []byte
}

// NewCodec returns a codec for the given per-install key, which must be
// KeySize random bytes.
func NewCodec(key []byte) (*Codec, error) {
	if len(key) != KeySize {
		return nil, errors.New("phantom key must be 32 bytes")
	}
	return &Codec{key: append([]byte(nil), key...)}, nil
}

// Static returns the phantom of the static credential name: the prefix, the
// name and a tag keyed by the install, e.g. "lk-openai-3f9a2cq7m5x2k4ba".
func (c *Codec) Static(name string) string {
	return Prefix + name + "-" + c.tag("static", name)
}

// tag is the keyed digest of a purpose and a name, encoded for phantoms.
// The purpose keeps phantoms of different kinds from colliding.
func (c *Codec) tag(purpose, name string) string {
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write([]byte(name))
	return tagEncoding.EncodeToString(mac.Sum(nil))[:tagLen]
}

// LooksLikeStatic reports whether s contains something shaped like a static
// phantom of any install. The proxy uses it to strip stray phantoms, such as
// one of a deleted credential, from headers.
func LooksLikeStatic(s string) bool {
	return strings.Contains(s, Prefix) && shape.MatchString(s)
}

// StripShaped removes every phantom-shaped substring from s.
func StripShaped(s string) string {
	if !strings.Contains(s, Prefix) {
		return s
	}
	return shape.ReplaceAllString(s, "")
}
