package swap

import "math/bits"

// Matches records which pairs of a [Replacer] matched at least once, by the
// index of the pair in the slice given to [New]. The zero value records no
// match. A Matches for up to 64 pairs is a plain word, so the common case
// of reporting matches costs no allocation.
type Matches struct {
	lo uint64   // pairs 0 to 63
	hi []uint64 // pairs from 64 on, grown only when one of them matches
}

// set records that pair i matched.
func (m *Matches) set(i int) {
	if i < 64 {
		m.lo |= 1 << uint(i)
		return
	}
	i -= 64
	w := i / 64
	if w >= len(m.hi) {
		m.hi = append(m.hi, make([]uint64, w+1-len(m.hi))...)
	}
	m.hi[w] |= 1 << uint(i%64)
}

// clone returns a copy that does not share storage with m, so a snapshot
// handed to a caller is not changed by later matches.
func (m Matches) clone() Matches {
	if m.hi != nil {
		m.hi = append([]uint64(nil), m.hi...)
	}
	return m
}

// Any reports whether any pair matched.
func (m Matches) Any() bool {
	if m.lo != 0 {
		return true
	}
	for _, w := range m.hi {
		if w != 0 {
			return true
		}
	}
	return false
}

// Has reports whether pair i matched. It is false for indexes out of range.
func (m Matches) Has(i int) bool {
	if i < 0 {
		return false
	}
	if i < 64 {
		return m.lo&(1<<uint(i)) != 0
	}
	i -= 64
	w := i / 64
	return w < len(m.hi) && m.hi[w]&(1<<uint(i%64)) != 0
}

// Each calls f with the index of every pair that matched, in increasing
// order.
func (m Matches) Each(f func(i int)) {
	eachBit(m.lo, 0, f)
	for w, word := range m.hi {
		eachBit(word, 64+64*w, f)
	}
}

// eachBit calls f with base plus the position of every set bit of word.
func eachBit(word uint64, base int, f func(i int)) {
	for word != 0 {
		f(base + bits.TrailingZeros64(word))
		word &= word - 1
	}
}
