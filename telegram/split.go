package telegram

import (
	"strings"
	"unicode/utf8"
)

// Telegram refuses a message whose text, after its HTML is parsed, is
// longer than maxMessage UTF-16 code units. Long replies (a long binding
// list, say) are split at line breaks into several messages; a tag that is
// open at a split, such as <pre>, is closed at the end of one part and
// opened again at the start of the next, so every part is valid HTML.
const (
	maxMessage = 4096

	// maxParts bounds how many messages one reply becomes; the rest is
	// cut with cutMarker.
	maxParts = 8

	// cutMarker ends a part whose line had to be cut, or the last part of
	// a reply that needed more than maxParts.
	cutMarker = "…[cut]"
)

// splitMessage splits an HTML reply into parts of at most limit visible
// characters (UTF-16 code units), preferring line breaks. It understands
// the markup the renderers produce: tags without attributes and the
// entities &amp; &lt; &gt;.
func splitMessage(html string, limit int) []string {
	if visibleLen(html) <= limit {
		return []string{html}
	}
	sp := splitter{limit: limit - utf16Len(cutMarker)}
	for _, tok := range tokenize(html) {
		sp.add(tok)
		if len(sp.parts) == maxParts {
			last := sp.parts[maxParts-1]
			if !strings.HasSuffix(last, cutMarker) {
				sp.parts[maxParts-1] = last + cutMarker
			}
			return sp.parts
		}
	}
	sp.flush()
	return sp.parts
}

// token is a piece of HTML: a tag, or text (one rune or one entity) with
// its visible width.
type token struct {
	raw   string
	width int
	tag   bool
}

// tokenize cuts html into tags and visible characters.
func tokenize(html string) []token {
	var toks []token
	for i := 0; i < len(html); {
		switch html[i] {
		case '<':
			end := strings.IndexByte(html[i:], '>')
			if end < 0 {
				end = len(html) - i - 1
			}
			toks = append(toks, token{raw: html[i : i+end+1], tag: true})
			i += end + 1
			continue
		case '&':
			if end := strings.IndexByte(html[i:], ';'); end > 0 && end < 8 {
				toks = append(toks, token{raw: html[i : i+end+1], width: 1})
				i += end + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(html[i:])
		toks = append(toks, token{raw: html[i : i+size], width: utf16Width(r)})
		i += size
	}
	return toks
}

// splitter accumulates tokens into parts.
type splitter struct {
	limit int
	parts []string

	// cur is the part being built, width its visible length and open the
	// tags open at its end, outermost first.
	cur   strings.Builder
	width int
	open  []string

	// safe is the length of cur and safeOpen the open tags at the last
	// line break: where the part is cut when it fills up.
	safe     int
	safeOpen []string
}

// add appends one token, starting a new part when it does not fit.
func (sp *splitter) add(tok token) {
	if tok.tag {
		sp.cur.WriteString(tok.raw)
		sp.track(tok.raw)
		return
	}
	if sp.width+tok.width > sp.limit {
		sp.breakPart()
	}
	if tok.raw == "\n" && sp.width == 0 {
		return // a part does not start with the break it was split at
	}
	sp.cur.WriteString(tok.raw)
	sp.width += tok.width
	if tok.raw == "\n" {
		sp.safe = sp.cur.Len()
		sp.safeOpen = append(sp.safeOpen[:0], sp.open...)
	}
}

// track updates the open tags for a tag token.
func (sp *splitter) track(tag string) {
	name := strings.Trim(tag, "</>")
	if strings.HasPrefix(tag, "</") {
		for i := len(sp.open) - 1; i >= 0; i-- {
			if sp.open[i] == name {
				sp.open = append(sp.open[:i], sp.open[i+1:]...)
				break
			}
		}
		return
	}
	sp.open = append(sp.open, name)
}

// breakPart ends the current part at its last line break or, when it has
// none, right here with cutMarker, and starts the next part with the tags
// that were open at the cut.
func (sp *splitter) breakPart() {
	s := sp.cur.String()
	var head, rest string
	var open []string
	if sp.safe > 0 {
		head, rest, open = s[:sp.safe], s[sp.safe:], sp.safeOpen
	} else {
		head, open = s+cutMarker, sp.open
	}
	// The remainder keeps the tags that opened after the cut point.
	restOpen := append([]string(nil), sp.open...)
	sp.parts = append(sp.parts, strings.TrimSuffix(head, "\n")+closeTags(open))

	sp.cur.Reset()
	for _, t := range open {
		sp.cur.WriteString("<" + t + ">")
	}
	sp.cur.WriteString(rest)
	sp.open = restOpen
	sp.width = visibleLen(rest)
	sp.safe, sp.safeOpen = 0, nil
}

// flush ends the last part.
func (sp *splitter) flush() {
	if sp.width > 0 {
		sp.parts = append(sp.parts, sp.cur.String()+closeTags(sp.open))
	}
}

// closeTags closes open tags, innermost first.
func closeTags(open []string) string {
	var b strings.Builder
	for i := len(open) - 1; i >= 0; i-- {
		b.WriteString("</" + open[i] + ">")
	}
	return b.String()
}

// visibleLen is the length Telegram counts for an HTML text.
func visibleLen(html string) int {
	n := 0
	for _, t := range tokenize(html) {
		n += t.width
	}
	return n
}

// utf16Len is the length of plain text in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16Width(r)
	}
	return n
}

// utf16Width is 2 for a rune outside the Basic Multilingual Plane.
func utf16Width(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}
