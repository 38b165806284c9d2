package swap

import (
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestWriterEverySplitOffset(t *testing.T) {
	for _, set := range splitSets {
		t.Run(set.name, func(t *testing.T) {
			r := New(set.pairs)
			want, wantIdx := naiveReplace(set.pairs, streamInput)
			for i := 0; i <= len(streamInput); i++ {
				got, m := replaceByWriter(t, r, splitAt(streamInput, i))
				if got != want || !slices.Equal(indexes(m), wantIdx) {
					t.Fatalf("split at %d: got %q %v, want %q %v",
						i, got, indexes(m), want, wantIdx)
				}
			}
		})
	}
}

func TestWriterEveryPairOfSplitOffsets(t *testing.T) {
	for _, set := range splitSets {
		t.Run(set.name, func(t *testing.T) {
			r := New(set.pairs)
			want, _ := naiveReplace(set.pairs, streamInput)
			for i := 0; i <= len(streamInput); i++ {
				for j := i; j <= len(streamInput); j++ {
					got, _ := replaceByWriter(t, r, splitAt(streamInput, i, j))
					if got != want {
						t.Fatalf("split at %d and %d: got %q, want %q", i, j, got, want)
					}
				}
			}
		})
	}
}

func TestWriterOneByteWrites(t *testing.T) {
	var chunks [][]byte
	for i := range len(streamInput) {
		chunks = append(chunks, []byte(streamInput[i:i+1]))
	}
	for _, set := range splitSets {
		want, _ := naiveReplace(set.pairs, streamInput)
		if got, _ := replaceByWriter(t, New(set.pairs), chunks); got != want {
			t.Errorf("%s: got %q, want %q", set.name, got, want)
		}
	}
}

func TestWriterRandomChunksMatchReplace(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, pairs := range [][]Pair{prefixPairs, longPairs(), longPairs()[:2]} {
		r := New(pairs)
		used := slices.DeleteFunc(slices.Clone(pairs), func(p Pair) bool { return p.Old == "" })
		for round := range 40 {
			in := randomBody(rng, used, 1+rng.IntN(100_000))
			want, wantM := r.Replace(in)
			got, m := replaceByWriter(t, r, randomChunks(rng, in, 1+rng.IntN(5000)))
			if got != want {
				t.Fatalf("round %d: output differs from Replace at byte %d",
					round, firstDiff(got, want))
			}
			if !slices.Equal(indexes(m), indexes(wantM)) {
				t.Fatalf("round %d: matched %v, want %v", round, indexes(m), indexes(wantM))
			}
		}
	}
}

// flushRecorder records what had been written each time it was flushed.
type flushRecorder struct {
	strings.Builder
	flushed []string
}

func (f *flushRecorder) Flush() { f.flushed = append(f.flushed, f.String()) }

func TestWriterFlushDeliversEventBeforeClose(t *testing.T) {
	dst := &flushRecorder{}
	w := New(prefixPairs).NewWriter(dst)
	steps := []struct{ write, delivered string }{
		{"data: one\n\n", "data: one\n\n"},
		// The event ends inside a possible pattern start, which waits.
		{"data: lk-ab", "data: one\n\ndata: "},
		{"c\n\n", "data: one\n\ndata: ABC\n\n"},
		{"data: sk-secret\n\n", "data: one\n\ndata: ABC\n\ndata: lk-a\n\n"},
	}
	for i, st := range steps {
		if _, err := w.Write([]byte(st.write)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(dst.flushed) != i+1 || dst.flushed[i] != st.delivered {
			t.Fatalf("after writing %q flushes are %q, want last %q",
				st.write, dst.flushed, st.delivered)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterFlushesHTTPResponseWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	w := New(prefixPairs).NewWriter(rec)
	if _, err := w.Write([]byte("data: lk-abcdef!\n\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != "data: !\n\n" {
		t.Fatalf("flushed %v with body %q", rec.Flushed, rec.Body.String())
	}
}

func TestWriterCloseReplacesShorterMatchInTail(t *testing.T) {
	var out strings.Builder
	w := New(prefixPairs).NewWriter(&out)
	if _, err := w.Write([]byte("x lk-abcd")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "x " {
		t.Fatalf("before Close wrote %q, want %q", out.String(), "x ")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "x ABCd" {
		t.Fatalf("after Close wrote %q, want %q", out.String(), "x ABCd")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterErrorIsSticky(t *testing.T) {
	boom := errors.New("boom")
	w := New(prefixPairs).NewWriter(failWriter{boom})
	for range 2 {
		if n, err := w.Write([]byte("lk-a b")); n != 0 || !errors.Is(err, boom) {
			t.Fatalf("Write = %d, %v; want 0, boom", n, err)
		}
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want boom", err)
	}
}

func TestWriterWithoutMatchWritesInputOnce(t *testing.T) {
	dst := &countWriter{}
	w := New(prefixPairs).NewWriter(dst)
	if _, err := w.Write([]byte("plain text, no candidates here")); err != nil {
		t.Fatal(err)
	}
	if dst.writes != 1 {
		t.Fatalf("dst written %d times, want 1", dst.writes)
	}
}

func TestWriterSteadyStateDoesNotAllocate(t *testing.T) {
	w := New(prefixPairs).NewWriter(&countWriter{})
	p := []byte("plain text with lk-abc and lk-a, ending in lk-ab")
	w.Write(p)
	allocs := testing.AllocsPerRun(100, func() { w.Write(p) })
	if allocs != 0 {
		t.Fatalf("Write allocates %v times, want 0", allocs)
	}
}

func TestWriterHoldsBackLessThanLongestPattern(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	pairs := longPairs()
	r := New(pairs)
	w := r.NewWriter(&countWriter{})
	in := randomBody(rng, pairs, 200_000)
	for _, c := range randomChunks(rng, in, 4000) {
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
		if len(w.hold) >= r.maxLen || cap(w.hold) > 2*r.maxLen {
			t.Fatalf("holding %d bytes in a buffer of %d; longest pattern is %d",
				len(w.hold), cap(w.hold), r.maxLen)
		}
	}
}

type countWriter struct{ writes int }

func (c *countWriter) Write(p []byte) (int, error) { c.writes++; return len(p), nil }

func TestWriterEmptyReplacerPassesThrough(t *testing.T) {
	var out strings.Builder
	w := New(nil).NewWriter(&out)
	if _, err := w.Write([]byte("lk-a")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil || out.String() != "lk-a" {
		t.Fatalf("Close = %v, wrote %q", err, out.String())
	}
}
