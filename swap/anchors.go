package swap

import "bytes"

// Anchored scan.
//
// When the patterns do not share a first byte, the pair-table scan in find
// tests every position of the input, about a byte per nanosecond. Most
// pattern sets the proxy builds have a few rare bytes at fixed offsets
// instead: "-" in "lk-name-tag" and "sk-…", "J" in every JWT ("eyJ…"), "_"
// in "ghp_…". An anchor is such a byte at such an offset; when a handful of
// anchors covers every pattern (each pattern has one of them at its
// offset), a pattern can start only where an anchor's byte lies at the
// anchor's offset further on, so the scan looks for those bytes with
// bytes.IndexByte, which is vectorized, and walks the tree only there.

// anchor is a byte that some patterns hold at offset off.
type anchor struct {
	c   byte
	off int
}

const (
	// maxAnchors bounds the anchors of a Replacer: each one is a separate
	// IndexByte scan of the input, and past a few of them the pair table
	// is as fast.
	maxAnchors = 6

	// anchorWindow bounds the offsets considered for anchors, and so how
	// far from its end a buffer that may be followed by more input has to
	// be checked position by position.
	anchorWindow = 16

	// maxAnchorRank is the highest commonness an anchor byte may have:
	// upper case, punctuation other than JSON's, control and non-ASCII
	// bytes. Letters, digits and JSON's punctuation occur too often in
	// proxied text for a scan that stops at each of them to pay.
	maxAnchorRank = 2

	// maxAnchorPatterns bounds the patterns for which anchors are chosen,
	// which keeps building a Replacer cheap; larger sets use the table.
	maxAnchorPatterns = 256

	// Windows of the per-anchor searches: small after a candidate, so a
	// scan that stops soon does not search far ahead for nothing, and
	// doubling while nothing is found, so long clean stretches cost few
	// calls.
	minSearch = 256
	maxSearch = 16 << 10

	// After denseAfter candidates that matched nothing, a scan whose
	// candidates come more often than every denseGap bytes hands over to
	// the pair table, which does not slow down on input full of anchor
	// bytes.
	denseAfter = 16
	denseGap   = 24

	// minAnchored is the shortest stretch of input the anchored scan is
	// used for: on header values and other short strings, setting up one
	// search per anchor costs more than the table scan.
	minAnchored = 128
)

// chooseAnchors returns anchors that cover every non-empty pattern of
// pairs, or nil when a few rare ones cannot. It picks greedily the anchor
// that covers the most patterns not yet covered, preferring rarer bytes
// and smaller offsets, which makes the choice deterministic.
func chooseAnchors(pairs []Pair) []anchor {
	var left []string
	for _, p := range pairs {
		if p.Old != "" {
			left = append(left, p.Old)
		}
	}
	if len(left) == 0 || len(left) > maxAnchorPatterns {
		return nil
	}
	var out []anchor
	var counts [anchorWindow][256]int32
	for len(left) > 0 {
		if len(out) == maxAnchors {
			return nil
		}
		counts = [anchorWindow][256]int32{}
		for _, s := range left {
			for o := 0; o < min(len(s), anchorWindow); o++ {
				if commonness(s[o]) <= maxAnchorRank {
					counts[o][s[o]]++
				}
			}
		}
		best, bestN, bestRank := anchor{}, int32(0), 0
		for o := range anchorWindow {
			for c := range 256 {
				n := counts[o][c]
				if n == 0 {
					continue
				}
				rank := commonness(byte(c))
				if n > bestN || n == bestN && rank < bestRank {
					best, bestN, bestRank = anchor{c: byte(c), off: o}, n, rank
				}
			}
		}
		if bestN == 0 {
			return nil
		}
		out = append(out, best)
		kept := left[:0]
		for _, s := range left {
			if !(len(s) > best.off && s[best.off] == best.c) {
				kept = append(kept, s)
			}
		}
		left = kept
	}
	return out
}

// anchorCursor follows one anchor through the input. When hit is true, at
// is the next position where a pattern may start by this anchor; when it
// is false, no pattern starts by this anchor before at, and what lies from
// at on has not been searched yet.
type anchorCursor struct {
	at     int
	hit    bool
	window int
}

// findAnchored is find for a Replacer with anchors. Candidate positions
// come from the anchors in increasing order, merged; each that starts with
// a pattern's first byte is checked with the tree walk. When more input may follow, the last positions of b, whose
// anchor bytes may lie past its end, are then checked one by one.
func (r *Replacer) findAnchored(b []byte, from, limit int, atEOF bool) (j, idx, n int, ev event) {
	stop := limit
	if !atEOF {
		stop = max(from, min(limit, len(b)-r.maxAnchorOff))
	}
	var cur [maxAnchors]anchorCursor
	anchors := r.anchors
	for k := range anchors {
		cur[k] = anchorCursor{at: from, window: minSearch}
	}
	last, rejected := -1, 0
	for {
		// The cursor furthest behind decides what comes next.
		k := 0
		for i := 1; i < len(anchors); i++ {
			if cur[i].at < cur[k].at {
				k = i
			}
		}
		c := &cur[k]
		if c.at >= stop {
			break
		}
		if !c.hit {
			a := anchors[k]
			end := min(c.at+c.window, stop)
			lo, hi := c.at+a.off, min(len(b), end+a.off)
			c.window = min(2*c.window, maxSearch)
			if lo >= hi {
				c.at = stop
				continue
			}
			if i := bytes.IndexByte(b[lo:hi], a.c); i >= 0 {
				c.at += i
				c.hit = true
			} else if hi == len(b) {
				c.at = stop
			} else {
				c.at = end
			}
			continue
		}
		j = c.at
		c.at, c.hit, c.window = j+1, false, minSearch
		if j == last {
			continue
		}
		last = j
		if r.first[b[j]] {
			if idx, n, ev = r.matchAt(b, j, atEOF); ev != none {
				return j, idx, n, ev
			}
		}
		if rejected++; rejected >= denseAfter && (j-from) < rejected*denseGap {
			// No pattern starts before j or at it, so the table may take
			// over from j+1.
			return r.findTable(b, j+1, limit, atEOF)
		}
	}
	// Positions from stop on may start a pattern cut short by the end of
	// b; there are fewer than the largest anchor offset.
	for j = stop; j < limit; j++ {
		if !r.first[b[j]] {
			continue
		}
		if idx, n, ev = r.matchAt(b, j, atEOF); ev != none {
			return j, idx, n, ev
		}
	}
	return limit, -1, 0, none
}
