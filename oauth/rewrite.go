package oauth

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
)

// rewriteJSON splices new values into the members of a JSON object. A
// removed member takes the separator in front of it along, except when it
// leads the kept ones, so the output stays valid JSON with the original
// spacing.
func rewriteJSON(body []byte, ms []member, subst Tokens) ([]byte, error) {
	out := make([]byte, 0, len(body))
	out = append(out, body[:ms[0].keyStart]...)
	wrote := false
	for i, m := range ms {
		value := body[m.valStart:m.valEnd]
		// null and "" hold no secret, so there is nothing to hide or remove.
		if sub := subst.field(m.key); sub != nil && string(value) != "null" &&
			string(value) != `""` {
			if *sub == "" {
				continue
			}
			enc, err := encodeString(*sub)
			if err != nil {
				return nil, fmt.Errorf("substitute %s: %w", m.key, err)
			}
			value = enc
		}
		if wrote {
			out = append(out, body[ms[i-1].valEnd:m.keyStart]...)
		}
		out = append(out, body[m.keyStart:m.valStart]...)
		out = append(out, value...)
		wrote = true
	}
	return append(out, body[ms[len(ms)-1].valEnd:]...), nil
}

// rewriteForm replaces or drops the token pairs of a form body.
func rewriteForm(body []byte, segs []formSegment, subst Tokens) []byte {
	raws := make([][]byte, 0, len(segs))
	for _, s := range segs {
		sub := subst.field(s.key)
		switch {
		case len(s.raw) == 0 || sub == nil || s.value == "":
			raws = append(raws, s.raw)
		case *sub != "":
			raws = append(raws, s.withValue(url.QueryEscape(*sub)))
		}
	}
	out := joinForm(raws)
	return append(out, body[len(trimRightSpace(body)):]...)
}

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
