package swap

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveReplace is the obviously correct reference: at every position try
// every pattern, keep the longest (the first of equal ones), and skip past
// the match.
func naiveReplace(pairs []Pair, s string) (string, []int) {
	var out strings.Builder
	var matched []int
	for i := 0; i < len(s); {
		best := -1
		for k, p := range pairs {
			if p.Old != "" && strings.HasPrefix(s[i:], p.Old) &&
				(best < 0 || len(p.Old) > len(pairs[best].Old)) {
				best = k
			}
		}
		if best < 0 {
			out.WriteByte(s[i])
			i++
			continue
		}
		out.WriteString(pairs[best].New)
		if !slices.Contains(matched, best) {
			matched = append(matched, best)
		}
		i += len(pairs[best].Old)
	}
	slices.Sort(matched)
	return out.String(), matched
}

// indexes lists the pairs m records.
func indexes(m Matches) []int {
	var got []int
	m.Each(func(i int) { got = append(got, i) })
	return got
}

// chunkReader returns its chunks one per Read, then io.EOF.
type chunkReader struct {
	chunks [][]byte
	reads  int // number of Read calls so far
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *chunkReader) Close() error { return nil }

// splitAt cuts s at the given increasing offsets.
func splitAt(s string, offsets ...int) [][]byte {
	var chunks [][]byte
	prev := 0
	for _, o := range offsets {
		chunks = append(chunks, []byte(s[prev:o]))
		prev = o
	}
	return append(chunks, []byte(s[prev:]))
}

// randomChunks cuts s into pieces of random sizes between 1 and maxSize.
func randomChunks(rng *rand.Rand, s string, maxSize int) [][]byte {
	var chunks [][]byte
	for s != "" {
		n := min(len(s), 1+rng.IntN(maxSize))
		chunks = append(chunks, []byte(s[:n]))
		s = s[n:]
	}
	return chunks
}

// readAllSized drains r with a buffer whose size next returns before
// each Read.
func readAllSized(t testing.TB, r io.Reader, next func() int) string {
	t.Helper()
	var out []byte
	for zero := 0; ; {
		buf := make([]byte, next())
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return string(out)
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if n == 0 {
			if zero++; zero > 100 {
				t.Fatal("Read makes no progress")
			}
		}
	}
}

// fixed returns a buffer size function that always gives n.
func fixed(n int) func() int { return func() int { return n } }

// replaceByReader streams chunks through a Reader read with buffers of the
// sizes next gives.
func replaceByReader(t testing.TB, r *Replacer, chunks [][]byte,
	next func() int) (string, Matches) {
	t.Helper()
	rd := r.NewReader(&chunkReader{chunks: slices.Clone(chunks)})
	got := readAllSized(t, rd, next)
	if err := rd.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return got, rd.Matched()
}

// replaceByWriter writes chunks through a Writer and closes it.
func replaceByWriter(t testing.TB, r *Replacer, chunks [][]byte) (string, Matches) {
	t.Helper()
	var out strings.Builder
	w := r.NewWriter(&out)
	for _, c := range chunks {
		if n, err := w.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.String(), w.Matched()
}
