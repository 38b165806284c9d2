package swap

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// streamInput has patterns at both ends, patterns that are prefixes of
// each other, a shorter match followed by a failed longer one, and a
// possible pattern start at the very end.
const streamInput = "lk-abc x lk-abcdef lk-lk-abc sk-secret aaaa lk-abcdeX lk-ab|lk-a lk-"

// readBufSizes covers single bytes, buffers smaller than a replacement and
// buffers large enough for the direct read path.
var readBufSizes = []int{1, 3, 64, 8192}

// splitSets are the pattern sets the split tests run with: prefixPairs
// have several first bytes and take the pair table scan; the phantoms
// among them share "lk-" and take the prefix scan.
var splitSets = []struct {
	name  string
	pairs []Pair
}{
	{"table scan", prefixPairs},
	{"prefix scan", slices.DeleteFunc(slices.Clone(prefixPairs),
		func(p Pair) bool { return !strings.HasPrefix(p.Old, "lk-") })},
}

func TestReaderEverySplitOffset(t *testing.T) {
	for _, set := range splitSets {
		t.Run(set.name, func(t *testing.T) {
			r := New(set.pairs)
			want, wantIdx := naiveReplace(set.pairs, streamInput)
			for i := 0; i <= len(streamInput); i++ {
				for _, size := range readBufSizes {
					got, m := replaceByReader(t, r, splitAt(streamInput, i), fixed(size))
					if got != want || !slices.Equal(indexes(m), wantIdx) {
						t.Fatalf("split at %d, buffer %d: got %q %v, want %q %v",
							i, size, got, indexes(m), want, wantIdx)
					}
				}
			}
		})
	}
}

func TestReaderEveryPairOfSplitOffsets(t *testing.T) {
	for _, set := range splitSets {
		t.Run(set.name, func(t *testing.T) {
			r := New(set.pairs)
			want, _ := naiveReplace(set.pairs, streamInput)
			n := len(streamInput)
			for i := 0; i <= n; i++ {
				for j := i; j <= n; j++ {
					for _, size := range []int{2, 8192} {
						chunks := splitAt(streamInput, i, j)
						if got, _ := replaceByReader(t, r, chunks, fixed(size)); got != want {
							t.Fatalf("split at %d and %d, buffer %d: got %q, want %q",
								i, j, size, got, want)
						}
					}
				}
			}
		})
	}
}

func TestReaderOneByteSource(t *testing.T) {
	r := New(prefixPairs)
	want, _ := naiveReplace(prefixPairs, streamInput)
	for _, size := range readBufSizes {
		src := io.NopCloser(iotest.OneByteReader(strings.NewReader(streamInput)))
		if got := readAllSized(t, r.NewReader(src), fixed(size)); got != want {
			t.Errorf("buffer %d: got %q, want %q", size, got, want)
		}
	}
}

func TestReaderPassesIOTest(t *testing.T) {
	r := New(prefixPairs)
	want, _ := naiveReplace(prefixPairs, streamInput)
	rd := r.NewReader(io.NopCloser(strings.NewReader(streamInput)))
	if err := iotest.TestReader(rd, []byte(want)); err != nil {
		t.Fatal(err)
	}
}

// randomBody builds an input of about n bytes from pattern pieces, whole
// patterns and filler, so that matches, near misses and possible pattern
// starts all cross chunk boundaries.
func randomBody(rng *rand.Rand, pairs []Pair, n int) string {
	var b strings.Builder
	for b.Len() < n {
		p := pairs[rng.IntN(len(pairs))].Old
		switch rng.IntN(4) {
		case 0:
			b.WriteString(p)
		case 1:
			b.WriteString(p[:rng.IntN(len(p)+1)])
		case 2:
			b.WriteString(randString(rng, "lk-abc ", rng.IntN(8)))
		default:
			b.WriteString(strings.Repeat("filler ", rng.IntN(20)))
		}
	}
	return b.String()
}

// longPairs include a pattern of a few KiB, like a JWT, and a prefix of
// it. Their first bytes differ, so the scan uses the byte pair table; the
// first two alone share a prefix, so the scan looks for that instead.
func longPairs() []Pair {
	jwt := "eyJ" + strings.Repeat("abcdefghij", 300)
	return []Pair{
		{Old: jwt, New: "lk-jwt"},
		{Old: jwt[:40], New: "lk-short"},
		{Old: "lk-abc", New: "ABC"},
		{Old: "lk-a", New: ""},
		{Old: "sk-secret", New: "lk-sk"},
	}
}

func TestReaderRandomChunksMatchReplace(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, pairs := range [][]Pair{prefixPairs, longPairs(), longPairs()[:2]} {
		r := New(pairs)
		for round := range 40 {
			in := randomBody(rng, slices.DeleteFunc(slices.Clone(pairs),
				func(p Pair) bool { return p.Old == "" }), 1+rng.IntN(100_000))
			want, wantM := r.Replace(in)
			chunks := randomChunks(rng, in, 1+rng.IntN(5000))
			next := func() int {
				if rng.IntN(2) == 0 {
					return 1 + rng.IntN(100)
				}
				return directMin + rng.IntN(2*readSize)
			}
			got, m := replaceByReader(t, r, chunks, next)
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

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// scriptedReader returns one scripted chunk per Read and fails the test
// if it is read past the script, which is how a stalled stream would show.
type scriptedReader struct {
	t      *testing.T
	chunks []string
}

func (s *scriptedReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		s.t.Fatal("Reader asked for more input than needed")
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	if c == "EOF" {
		return 0, io.EOF
	}
	return copy(p, c), nil
}

func (s *scriptedReader) Close() error { return nil }

func TestReaderDeliversDataWithoutWaitingForMore(t *testing.T) {
	tests := []struct {
		name string
		bufs int // caller's buffer size
	}{
		{"small caller buffer", 100},
		{"direct read path", 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &scriptedReader{t: t, chunks: []string{
				"data: one\n\n", "data: lk-", "ab", "c\n\n", "lk-ab", "EOF",
			}}
			rd := New(prefixPairs).NewReader(src)
			// Each Read may use only the chunks listed, and no more.
			steps := []struct {
				want  string
				reads int // chunks consumed after this Read
			}{
				{"data: one\n\n", 1},
				{"data: ", 2},
				{"ABC\n\n", 4},
				{"Ab", 6},
			}
			buf := make([]byte, tt.bufs)
			for _, st := range steps {
				n, err := rd.Read(buf)
				if err != nil || string(buf[:n]) != st.want {
					t.Fatalf("Read = %q, %v; want %q", buf[:n], err, st.want)
				}
				if used := 6 - len(src.chunks); used != st.reads {
					t.Fatalf("after %q the source was read %d times, want %d",
						st.want, used, st.reads)
				}
			}
			if n, err := rd.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("final Read = %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

// errReader returns its data and then a non-EOF error.
type errReader struct {
	data string
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.data == "" {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func (e *errReader) Close() error { return nil }

func TestReaderErrorDropsPossiblePatternStart(t *testing.T) {
	boom := errors.New("boom")
	rd := New(prefixPairs).NewReader(&errReader{data: "x lk-a y lk-ab", err: boom})
	got, err := io.ReadAll(rd)
	if !errors.Is(err, boom) {
		t.Fatalf("ReadAll error = %v, want boom", err)
	}
	if string(got) != "x A y " {
		t.Fatalf("ReadAll = %q, want %q", got, "x A y ")
	}
	if n, err := rd.Read(make([]byte, 10)); n != 0 || !errors.Is(err, boom) {
		t.Fatalf("Read after error = %d, %v; want the same error", n, err)
	}
}

type closeRecorder struct {
	io.Reader
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return nil }

func TestReaderCloseClosesSource(t *testing.T) {
	for _, pairs := range [][]Pair{nil, prefixPairs} {
		src := &closeRecorder{Reader: strings.NewReader("lk-a")}
		if err := New(pairs).NewReader(src).Close(); err != nil || src.closed != 1 {
			t.Fatalf("Close = %v, source closed %d times", err, src.closed)
		}
	}
}

func TestReaderEmptyReplacerPassesThrough(t *testing.T) {
	src := io.NopCloser(strings.NewReader("lk-abc"))
	rd := New(nil).NewReader(src)
	got, err := io.ReadAll(rd)
	if err != nil || string(got) != "lk-abc" || rd.Matched().Any() {
		t.Fatalf("ReadAll = %q, %v, matched %v", got, err, indexes(rd.Matched()))
	}
}

func TestReaderMatchedSoFar(t *testing.T) {
	src := &scriptedReader{t: t, chunks: []string{"lk-abc ", "sk-secret", "EOF"}}
	rd := New(prefixPairs).NewReader(src)
	buf := make([]byte, 100)
	if _, err := rd.Read(buf); err != nil {
		t.Fatal(err)
	}
	snapshot := rd.Matched()
	if _, err := io.ReadAll(rd); err != nil {
		t.Fatal(err)
	}
	if got := indexes(snapshot); !slices.Equal(got, []int{1}) {
		t.Errorf("matched after first Read %v, want [1]", got)
	}
	if got := indexes(rd.Matched()); !slices.Equal(got, []int{1, 4}) {
		t.Errorf("matched at EOF %v, want [1 4]", got)
	}
}

// repeatReader yields block over and over, total bytes in all, in reads
// whose sizes cycle through sizes so that patterns straddle reads.
type repeatReader struct {
	block []byte
	off   int
	left  int64
	sizes []int
	k     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	want := min(len(p), r.sizes[r.k%len(r.sizes)])
	r.k++
	if int64(want) > r.left {
		want = int(r.left)
	}
	n := 0
	for n < want {
		c := copy(p[n:want], r.block[r.off:])
		n += c
		r.off = (r.off + c) % len(r.block)
	}
	r.left -= int64(n)
	return n, nil
}

func (r *repeatReader) Close() error { return nil }

// bodyBlock is a block of text with patterns in it. It ends in a newline,
// which no pattern contains, so no match spans two copies of the block.
func bodyBlock(pairs []Pair) []byte {
	var b bytes.Buffer
	for b.Len() < 4000 {
		for _, p := range pairs {
			b.WriteString(`{"text": "lorem ipsum dolor sit amet", "key": "`)
			b.WriteString(p.Old)
			b.WriteString(`", "part": "`)
			b.WriteString(p.Old[:len(p.Old)/2])
			b.WriteString("\"}\n")
		}
	}
	return b.Bytes()
}

func TestReaderHugeStreamHasBoundedMemory(t *testing.T) {
	pairs := longPairs()
	r := New(pairs)
	block := bodyBlock(pairs)
	wantBlock, _ := r.Replace(string(block))
	const total = 64 << 20
	blocks := total / len(block)
	src := &repeatReader{block: block, left: int64(blocks * len(block)),
		sizes: []int{7919, 1, 65536, 3001, 17}}
	rd := r.NewReader(src)
	limit := readSize + 2*r.maxLen
	bufs := [][]byte{make([]byte, 32<<10), make([]byte, 1000)}
	var out, seen int
	for i := 0; ; i++ {
		buf := bufs[i%2]
		n, err := rd.Read(buf)
		for _, c := range buf[:n] {
			if c != wantBlock[out%len(wantBlock)] {
				t.Fatalf("output differs at byte %d", out)
			}
			out++
		}
		if c := cap(rd.buf); c > limit {
			t.Fatalf("read buffer grew to %d bytes, want at most %d", c, limit)
		}
		seen = max(seen, rd.end-rd.start)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if out != blocks*len(wantBlock) {
		t.Fatalf("got %d bytes, want %d", out, blocks*len(wantBlock))
	}
	if seen > limit {
		t.Fatalf("held %d bytes at once, want at most %d", seen, limit)
	}
}

func TestReaderSteadyStateDoesNotAllocate(t *testing.T) {
	for _, size := range []int{32 << 10, 1000} {
		pairs := longPairs()
		r := New(pairs)
		src := &repeatReader{block: bodyBlock(pairs), left: 1 << 62,
			sizes: []int{7919, 1, 65536, 3001, 17}}
		rd := r.NewReader(src)
		buf := make([]byte, size)
		for range 100 {
			if _, err := rd.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := rd.Read(buf); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("buffer %d: Read allocates %v times per call, want 0", size, allocs)
		}
	}
}
