package oauth

import (
	"bytes"
	"strings"
)

// minLeakLen is the shortest token value RewriteTokenResponse searches its
// output for. Real tokens are far longer; shorter values would match
// ordinary words such as "bearer".
const minLeakLen = 8

// checkNoLeak fails if any original token value of at least minLeakLen
// bytes is still in out, either literally or in an escaped spelling that a
// client would decode back to it (JSON \u escapes, form percent escapes).
func checkNoLeak(f Format, out []byte, orig Tokens) error {
	var secrets []string
	for _, v := range []string{orig.AccessToken, orig.RefreshToken, orig.IDToken} {
		if len(v) >= minLeakLen {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	holds := func(s string) bool {
		for _, v := range secrets {
			if strings.Contains(s, v) {
				return true
			}
		}
		return false
	}
	for _, v := range secrets {
		if bytes.Contains(out, []byte(v)) {
			return ErrTokenElsewhere
		}
	}
	if f == FormatJSON {
		return walkStrings(out, func(start, end int, _ bool) error {
			s, err := decodeString(out[start:end])
			if err != nil {
				return err
			}
			if holds(s) {
				return ErrTokenElsewhere
			}
			return nil
		})
	}
	segs, err := splitForm(trimRightSpace(out))
	if err != nil {
		return err
	}
	for _, s := range segs {
		if holds(s.key) || holds(s.value) {
			return ErrTokenElsewhere
		}
	}
	return nil
}
