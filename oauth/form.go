package oauth

import (
	"bytes"
	"errors"
	"net/url"
)

// formSegment is one '&'-separated piece of a form body. Bodies are edited
// segment by segment and joined back with '&', which reproduces every
// segment that was not edited byte for byte.
type formSegment struct {
	raw   []byte // the bytes as sent, without the separating '&'
	eq    int    // offset of the first '=' in raw, or -1
	key   string // unescaped key; "" for an empty segment
	value string // unescaped value
}

var (
	errFormSemicolon = errors.New("form body contains a semicolon")
	errFormEscape    = errors.New("form body has an invalid percent escape")
)

// splitForm splits a form body into its segments and unescapes each key
// and value as url.ParseQuery does. Like url.ParseQuery it rejects
// semicolons, because some servers still treat them as separators and
// would then see different pairs than latchkey did.
func splitForm(b []byte) ([]formSegment, error) {
	var segs []formSegment
	for {
		raw := b
		next := bytes.IndexByte(b, '&')
		if next >= 0 {
			raw, b = b[:next], b[next+1:]
		}
		seg, err := parseSegment(raw)
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
		if next < 0 {
			return segs, nil
		}
	}
}

func parseSegment(raw []byte) (formSegment, error) {
	seg := formSegment{raw: raw, eq: bytes.IndexByte(raw, '=')}
	if len(raw) == 0 {
		return seg, nil
	}
	if bytes.IndexByte(raw, ';') >= 0 {
		return seg, errFormSemicolon
	}
	k, v := raw, []byte(nil)
	if seg.eq >= 0 {
		k, v = raw[:seg.eq], raw[seg.eq+1:]
	}
	var err error
	if seg.key, err = url.QueryUnescape(string(k)); err != nil {
		return seg, errFormEscape
	}
	if seg.value, err = url.QueryUnescape(string(v)); err != nil {
		return seg, errFormEscape
	}
	return seg, nil
}

// withValue returns the segment's raw bytes with the value replaced by
// escaped, adding the '=' when the segment had none.
func (s formSegment) withValue(escaped string) []byte {
	k := s.raw
	if s.eq >= 0 {
		k = s.raw[:s.eq]
	}
	out := make([]byte, 0, len(k)+1+len(escaped))
	out = append(out, k...)
	out = append(out, '=')
	return append(out, escaped...)
}

// joinForm joins raw segments with '&'.
func joinForm(raws [][]byte) []byte {
	n := len(raws)
	for _, r := range raws {
		n += len(r)
	}
	out := make([]byte, 0, n)
	for i, r := range raws {
		if i > 0 {
			out = append(out, '&')
		}
		out = append(out, r...)
	}
	return out
}
