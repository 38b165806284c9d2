package swap

import (
	"bytes"
	"strings"
	"sync"
	"unsafe"
)

// Pair is one replacement: every occurrence of Old becomes New.
type Pair struct{ Old, New string }

// Replacer replaces a fixed set of patterns. It is immutable and safe for
// concurrent use; the readers and writers it creates are not.
type Replacer struct {
	news   []string // New of every pair given to New, by original index
	newsB  [][]byte // the same as bytes, so writers need no conversion
	count  int      // number of patterns in use
	maxLen int      // length of the longest pattern

	// root holds, for every byte, the tree of the patterns that start with
	// it. first marks the same bytes, and second the byte pairs patterns
	// start with, in tables small enough to stay in cache during the scan.
	// When all patterns share a first byte, prefix is the start they all
	// share, and the scan looks for its rarest byte instead.
	root   [256]*node
	first  [256]bool
	second pairSet
	prefix string
	rare   int // index in prefix of the byte the scan looks for

	// Otherwise, when a few rare bytes at fixed offsets cover every
	// pattern, the scan looks for those (see anchors.go).
	anchors      []anchor
	maxAnchorOff int

	bufs sync.Pool // *[]byte read buffers for Readers
}

// readSize is how much a Reader asks of its source at a time.
const readSize = 32 << 10

// maxPrefix bounds the shared prefix the scan compares at each candidate.
// A few bytes already make false candidates rare; the tree walk checks the
// rest.
const maxPrefix = 16

// New builds a Replacer. Empty Old values are ignored; when several
// patterns match at the same position the longest wins; matches never
// overlap; scanning resumes after the replaced match, so replacement output
// is never rescanned. When the same Old appears twice the first pair wins.
// A nil or empty pair list yields a Replacer whose Empty is true.
func New(pairs []Pair) *Replacer {
	r := &Replacer{
		news:  make([]string, len(pairs)),
		newsB: make([][]byte, len(pairs)),
	}
	tree := &node{pair: -1}
	for i, p := range pairs {
		r.news[i] = p.New
		if p.Old == "" {
			continue
		}
		r.newsB[i] = []byte(p.New)
		insert(tree, p.Old, i)
		r.count++
		r.maxLen = max(r.maxLen, len(p.Old))
		if len(p.Old) == 1 {
			for c := range 256 {
				r.second.add(p.Old[0], byte(c))
			}
		} else {
			r.second.add(p.Old[0], p.Old[1])
		}
	}
	for i, c := range tree.keys {
		r.root[c] = tree.kids[i]
		r.first[c] = true
	}
	if len(tree.kids) == 1 {
		l := tree.kids[0].label
		r.prefix = l[:min(len(l), maxPrefix)]
		r.rare = rarest(r.prefix)
	} else if r.count > 0 {
		r.anchors = chooseAnchors(pairs)
		for _, a := range r.anchors {
			r.maxAnchorOff = max(r.maxAnchorOff, a.off)
		}
	}
	return r
}

// Empty reports whether the Replacer has no pattern, in which case it
// leaves all input unchanged and callers may skip it altogether.
func (r *Replacer) Empty() bool {
	return r.count == 0
}

// Replace returns s with every pattern replaced, and which pairs matched.
// When nothing matches it returns s itself and allocates nothing, which is
// the usual case for headers and queries.
func (r *Replacer) Replace(s string) (string, Matches) {
	if r.count == 0 || s == "" {
		return s, Matches{}
	}
	// The scan only reads b, so viewing the string as bytes is safe, and
	// it saves a copy of every header the proxy looks at.
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	j, idx, n, ev := r.find(b, 0, len(b), true)
	if ev != found {
		return s, Matches{}
	}
	var m Matches
	var out strings.Builder
	out.Grow(len(s) + max(0, len(r.news[idx])-n))
	from := 0
	for ev == found {
		out.WriteString(s[from:j])
		out.WriteString(r.news[idx])
		m.set(idx)
		from = j + n
		j, idx, n, ev = r.find(b, from, len(b), true)
	}
	out.WriteString(s[from:])
	return out.String(), m
}

// event says what find came across.
type event uint8

const (
	none    event = iota // no pattern starts before the limit
	found                // a pattern matches; it is the longest there
	partial              // the input ends inside what may be a pattern
)

// find looks for the first position j in [from, limit) where a pattern
// starts in b. With found it returns the pair and the length of the
// match. With partial, b[j:] is the start of a pattern but b ends too soon
// to tell whether, or which, pattern matches at j; that happens only when
// atEOF is false, that is when more input may follow b. With none, j is
// limit. Candidates start before limit, but matches may extend past it.
func (r *Replacer) find(b []byte, from, limit int, atEOF bool) (j, idx, n int, ev event) {
	if r.prefix != "" {
		return r.findPrefix(b, from, limit, atEOF)
	}
	if r.anchors != nil && limit-from >= minAnchored {
		return r.findAnchored(b, from, limit, atEOF)
	}
	return r.findTable(b, from, limit, atEOF)
}

// findTable is find by the pair table: it tests the byte pair at every
// position.
func (r *Replacer) findTable(b []byte, from, limit int, atEOF bool) (j, idx, n int, ev event) {
	t := &r.second
	for j = from; j < limit; j++ {
		// Most input starts no pattern, so this loop is where the time
		// goes. It tests the byte pairs at eight positions per round, and
		// finds the exact position only when one of them hits. Pairs rule
		// out far more than first bytes do, as common letters start many
		// patterns, and a hit is rare enough for the branches to be well
		// predicted.
		for j+9 <= len(b) && j+8 <= limit {
			w := b[j : j+9 : j+9]
			if t.has(w[0], w[1]) || t.has(w[1], w[2]) || t.has(w[2], w[3]) ||
				t.has(w[3], w[4]) || t.has(w[4], w[5]) || t.has(w[5], w[6]) ||
				t.has(w[6], w[7]) || t.has(w[7], w[8]) {
				break
			}
			j += 8
		}
		for j < limit && (!r.first[b[j]] || j+1 < len(b) && !t.has(b[j], b[j+1])) {
			j++
		}
		if j == limit {
			break
		}
		if idx, n, ev = r.matchAt(b, j, atEOF); ev != none {
			return j, idx, n, ev
		}
	}
	return limit, -1, 0, none
}

// findPrefix is find for patterns that all start with r.prefix. It looks
// for the prefix's rarest byte with bytes.IndexByte, which is vectorized,
// then compares the whole prefix around it, and last checks whether b ends
// inside a prefix.
func (r *Replacer) findPrefix(b []byte, from, limit int, atEOF bool) (j, idx, n int, ev event) {
	pre, o := r.prefix, r.rare
	c := pre[o]
	for j = from; j < limit; j++ {
		lo, hi := j+o, min(len(b), limit+o)
		if lo >= hi {
			break
		}
		k := bytes.IndexByte(b[lo:hi], c)
		if k < 0 {
			j = hi - o
			break
		}
		j += k
		if rest := b[j:]; len(rest) < len(pre) {
			if !atEOF && string(rest) == pre[:len(rest)] {
				return j, -1, 0, partial
			}
			continue
		}
		if string(b[j:j+len(pre)]) != pre {
			continue
		}
		if idx, n, ev = r.matchAt(b, j, atEOF); ev != none {
			return j, idx, n, ev
		}
	}
	if atEOF {
		return limit, -1, 0, none
	}
	// The positions left are those whose rare byte lies past the end of b.
	// A prefix may still start there, cut short by the end of b.
	for ; j < limit; j++ {
		if string(b[j:]) == pre[:len(b)-j] {
			return j, -1, 0, partial
		}
	}
	return limit, -1, 0, none
}

// matchAt walks the tree along b from position j, where a pattern may
// start, and returns the longest pattern that matches there. It returns
// partial instead when b ends while the walk could still go deeper and
// atEOF is false: a longer pattern might match once more input arrives, and
// longest-wins forbids deciding on a shorter one before that.
func (r *Replacer) matchAt(b []byte, j int, atEOF bool) (idx, n int, ev event) {
	nd := r.root[b[j]]
	pos := j
	idx = -1
	for {
		l := nd.label
		if rest := b[pos:]; len(rest) < len(l) {
			if !atEOF && string(rest) == l[:len(rest)] {
				return -1, 0, partial
			}
			break
		}
		if string(b[pos:pos+len(l)]) != l {
			break
		}
		pos += len(l)
		if nd.pair >= 0 {
			idx, n = nd.pair, pos-j
		}
		if len(nd.keys) == 0 {
			break
		}
		if pos == len(b) {
			if !atEOF {
				return -1, 0, partial
			}
			break
		}
		if nd = nd.child(b[pos]); nd == nil {
			break
		}
	}
	if idx < 0 {
		return -1, 0, none
	}
	return idx, n, found
}

// rarest returns the index of the byte of s least likely to occur in the
// text and JSON of proxied bodies, going by a rough guess of byte
// frequencies. Looking for a rare byte instead of the first one saves
// stopping at every "l" when all phantoms start with "lk-", say.
func rarest(s string) int {
	best := 0
	for i := 1; i < len(s); i++ {
		if commonness(s[i]) < commonness(s[best]) {
			best = i
		}
	}
	return best
}

// commonness ranks how often a byte is expected in proxied bodies.
func commonness(c byte) int {
	switch {
	case strings.IndexByte(" etaoinsrhl\"", c) >= 0:
		return 5
	case 'a' <= c && c <= 'z':
		return 4
	case '0' <= c && c <= '9', strings.IndexByte(",:.{}[]/\n", c) >= 0:
		return 3
	case 'A' <= c && c <= 'Z':
		return 2
	case ' ' < c && c < 0x7f:
		return 1
	}
	return 0
}

// pairSet is a set of byte pairs, one bit each.
type pairSet [256 * 256 / 64]uint64

func (s *pairSet) add(a, b byte) {
	i := uint16(a)<<8 | uint16(b)
	s[i>>6] |= 1 << (i & 63)
}

// has reports whether the pair a, b is in the set. The uint16 index lets
// the compiler drop the bounds check in the scan loop.
func (s *pairSet) has(a, b byte) bool {
	i := uint16(a)<<8 | uint16(b)
	return s[i>>6]&(1<<(i&63)) != 0
}

// getBuf returns a read buffer, reusing one a finished Reader gave back.
// It has room for a full read behind a held-back possible pattern start.
func (r *Replacer) getBuf() *[]byte {
	if p, ok := r.bufs.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, readSize+2*r.maxLen)
	return &b
}
