package swap

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// benchPairs returns ten patterns of 40 bytes. Phantoms all start with
// "lk-", which takes the bytes.IndexByte scan; secrets have different
// prefixes, which takes the table scan.
func benchPairs(kind string) []Pair {
	prefixes := []string{"lk-", "lk-", "lk-", "lk-", "lk-", "lk-", "lk-", "lk-", "lk-", "lk-"}
	if kind == "secrets" {
		prefixes = []string{"sk-", "ghp_", "xoxb-", "AKIA", "eyJ", "glpat-", "npm_",
			"AIza", "sk_live_", "pat_"}
	}
	rng := rand.New(rand.NewPCG(42, 42))
	pairs := make([]Pair, len(prefixes))
	for i, p := range prefixes {
		pairs[i] = Pair{Old: p + randString(rng, "abcdefghijklmnopqrstuvwxyz0123456789",
			40-len(p)), New: fmt.Sprintf("replacement-%d", i)}
	}
	return pairs
}

// benchBody returns 1 MiB of JSON-like text, with one of the patterns
// every `every` bytes when every is positive.
func benchBody(pairs []Pair, every int) []byte {
	rng := rand.New(rand.NewPCG(1, 1))
	var b bytes.Buffer
	next := every
	for b.Len() < 1<<20 {
		fmt.Fprintf(&b, `{"id": %d, "role": "assistant", "content": "lorem ipsum `+
			`dolor sit amet, like skills and axes", "tokens": %d},`+"\n",
			rng.IntN(1e6), rng.IntN(1e4))
		if every > 0 && b.Len() >= next {
			b.WriteString(pairs[rng.IntN(len(pairs))].Old)
			next += every
		}
	}
	return b.Bytes()[:1<<20]
}

func benchReader(b *testing.B, pairs []Pair, body []byte) {
	r := New(pairs)
	buf := make([]byte, 32<<10)
	src := bytes.NewReader(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(body)
		rd := r.NewReader(io.NopCloser(src))
		for {
			_, err := rd.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkReaderNoMatch(b *testing.B) {
	for _, kind := range []string{"phantoms", "secrets"} {
		b.Run(kind, func(b *testing.B) {
			pairs := benchPairs(kind)
			benchReader(b, pairs, benchBody(pairs, 0))
		})
	}
}

func BenchmarkReaderWithMatches(b *testing.B) {
	for _, kind := range []string{"phantoms", "secrets"} {
		b.Run(kind, func(b *testing.B) {
			pairs := benchPairs(kind)
			benchReader(b, pairs, benchBody(pairs, 4096))
		})
	}
}

func BenchmarkWriterNoMatch(b *testing.B) {
	pairs := benchPairs("secrets")
	body := benchBody(pairs, 0)
	w := New(pairs).NewWriter(io.Discard)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(body); off += 32 << 10 {
			w.Write(body[off : off+32<<10])
		}
	}
}

func BenchmarkReplaceHeaderNoMatch(b *testing.B) {
	r := New(benchPairs("phantoms"))
	header := "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6" +
		"IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	b.SetBytes(int64(len(header)))
	b.ReportAllocs()
	for b.Loop() {
		if _, m := r.Replace(header); m.Any() {
			b.Fatal("unexpected match")
		}
	}
}
