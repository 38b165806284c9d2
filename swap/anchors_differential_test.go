package swap

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestAnchoredScanMatchesTheNaiveReplacer compares the anchored scan (rare
// bytes at fixed offsets) with a naive reference on random pattern sets, for
// Replace, the Reader and the Writer.
func TestAnchoredScanMatchesTheNaiveReplacer(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 99))
	anchored := 0
	for round := range 20000 {
		alphabet := []string{"ab-", "a-B", "x_y", "aJb-", "-", "ab-c_D"}[round%6]
		pairs := make([]Pair, 1+rng.IntN(7))
		for i := range pairs {
			pairs[i] = Pair{randString(rng, alphabet, rng.IntN(20)), strings.Repeat("#", rng.IntN(3))}
		}
		in := randString(rng, alphabet+"zz", rng.IntN(400))
		r := New(pairs)
		if r.anchors == nil {
			continue
		}
		anchored++
		want, wantIdx := naiveReplace(pairs, in)
		got, m := r.Replace(in)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("anchors %v pairs %q Replace(%q) = %q %v, want %q %v", r.anchors, pairs,
				in, got, indexes(m), want, wantIdx)
		}
		chunks := randomChunks(rng, in, 1+rng.IntN(40))
		next := func() int {
			if rng.IntN(3) == 0 {
				return directMin + rng.IntN(100)
			}
			return 1 + rng.IntN(12)
		}
		got, m = replaceByReader(t, r, chunks, next)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("anchors %v pairs %q Reader(%q) = %q, want %q", r.anchors, pairs, in, got, want)
		}
		got, m = replaceByWriter(t, r, chunks)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("anchors %v pairs %q Writer(%q) = %q, want %q", r.anchors, pairs, in, got, want)
		}
		// find itself against the table, on every from/limit/atEOF.
		b := []byte(in)
		for k := 0; k < 5 && len(b) > 0; k++ {
			from := rng.IntN(len(b) + 1)
			limit := from + rng.IntN(len(b)-from+1)
			atEOF := rng.IntN(2) == 0
			j1, i1, n1, e1 := r.findAnchored(b, from, limit, atEOF)
			j2, i2, n2, e2 := r.findTable(b, from, limit, atEOF)
			if j1 != j2 || i1 != i2 || n1 != n2 || e1 != e2 {
				t.Fatalf("anchors %v pairs %q find(%q, %d, %d, %v) = %d %d %d %d, table %d %d %d %d",
					r.anchors, pairs, in, from, limit, atEOF, j1, i1, n1, e1, j2, i2, n2, e2)
			}
		}
	}
	t.Logf("anchored rounds: %d", anchored)
}

// TestAnchoredScanOnLongStreams streams long bodies with sparse phantoms,
// near misses and runs of the anchor bytes through the anchored scan and
// compares with the naive reference.
func TestAnchoredScanOnLongStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 60 {
		pairs := []Pair{{"lk-foo-abc", "SECRET1"}, {"eyJhbGciOi.x", "S2"}, {"lk-rt-foo-zz", ""},
			{"acct-Q", "A"}}
		if round%3 == 1 {
			pairs = append(pairs, Pair{"sk_live_x", "L"})
		}
		r := New(pairs)
		if r.anchors == nil {
			t.Fatal("not anchored")
		}
		var sb strings.Builder
		n := 1000 + rng.IntN(200000)
		for sb.Len() < n {
			switch rng.IntN(2000) {
			case 0:
				sb.WriteString(pairs[rng.IntN(len(pairs))].Old)
			case 1:
				p := pairs[rng.IntN(len(pairs))].Old
				sb.WriteString(p[:rng.IntN(len(p))])
			case 2, 3, 4:
				sb.WriteString("-J_")
			default:
				sb.WriteString(randString(rng, "abcdefghijklmnop qrstuvwxyz\",:{}", 1+rng.IntN(30)))
			}
			if round%5 == 0 && rng.IntN(3) == 0 {
				sb.WriteString("----J-J-")
			}
		}
		in := sb.String()
		want, wantIdx := naiveReplace(pairs, in)
		got, m := r.Replace(in)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("round %d: Replace differs", round)
		}
		chunks := randomChunks(rng, in, 1+rng.IntN(70000))
		next := func() int {
			if rng.IntN(3) == 0 {
				return 32 << 10
			}
			return 1 + rng.IntN(5000)
		}
		got, _ = replaceByReader(t, r, chunks, next)
		if got != want {
			t.Fatalf("round %d: Reader differs", round)
		}
		got, _ = replaceByWriter(t, r, chunks)
		if got != want {
			t.Fatalf("round %d: Writer differs", round)
		}
	}
}
