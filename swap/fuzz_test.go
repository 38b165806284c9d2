package swap

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// fuzzSets are the pattern sets the fuzz target checks: one whose patterns
// share a first byte, so the scan uses bytes.IndexByte, and one with
// several first bytes, so it uses the table. Every Old is lower case and
// every New is upper case and not empty, so no output can contain an Old
// that the input did not: a New cannot be part of an Old, and since no
// New is empty a replacement never joins the bytes around it.
var fuzzSets = [][]Pair{
	{
		{Old: "lk-a", New: "X"},
		{Old: "lk-ab", New: "YY"},
		{Old: "lk-abc", New: "ZZZ"},
		{Old: "lk-abd", New: "D"},
		{Old: "lk-b", New: "Q"},
		{Old: "lk-bbbb", New: "W"},
		{Old: "lk-lk-", New: "R"},
		{Old: "lk-" + strings.Repeat("a", 40), New: "LONG"},
	},
	{
		{Old: "lk-a", New: "X"},
		{Old: "lk-abc", New: "ZZZ"},
		{Old: "aa", New: "A"},
		{Old: "ab", New: "B"},
		{Old: "b-lk", New: "BLK"},
		{Old: "c", New: "C"},
	},
}

func FuzzReaderMatchesReplace(f *testing.F) {
	f.Add([]byte("lk-abc x lk-ab lk-a lk-lk-abd lk-bbb lk-"), uint64(1))
	f.Add([]byte("aaab-lk-abcc"), uint64(2))
	f.Add([]byte(strings.Repeat("lk-", 30)+strings.Repeat("a", 45)), uint64(3))
	f.Add([]byte(""), uint64(0))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(len(in))))
		for _, pairs := range fuzzSets {
			r := New(pairs)
			want, wantM := r.Replace(string(in))
			if ref, refIdx := naiveReplace(pairs, string(in)); ref != want ||
				!slices.Equal(refIdx, indexes(wantM)) {
				t.Fatalf("Replace(%q) = %q %v, reference %q %v",
					in, want, indexes(wantM), ref, refIdx)
			}
			for _, p := range pairs {
				if strings.Contains(want, p.Old) {
					t.Fatalf("Replace(%q) = %q still contains %q", in, want, p.Old)
				}
			}

			maxChunk := 1 + rng.IntN(64)
			chunks := randomChunks(rng, string(in), maxChunk)
			next := func() int {
				if rng.IntN(4) == 0 {
					return directMin + rng.IntN(directMin)
				}
				return 1 + rng.IntN(16)
			}
			got, m := replaceByReader(t, r, chunks, next)
			if got != want || !slices.Equal(indexes(m), indexes(wantM)) {
				t.Fatalf("Reader(%q) in chunks of up to %d = %q %v, want %q %v",
					in, maxChunk, got, indexes(m), want, indexes(wantM))
			}
			got, m = replaceByWriter(t, r, chunks)
			if got != want || !slices.Equal(indexes(m), indexes(wantM)) {
				t.Fatalf("Writer(%q) in chunks of up to %d = %q %v, want %q %v",
					in, maxChunk, got, indexes(m), want, indexes(wantM))
			}
		}
	})
}
