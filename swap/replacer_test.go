package swap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// prefixPairs are patterns that are prefixes of each other, overlap with
// themselves and strip, with an ignored empty pattern in the middle so the
// reported indexes must be the original ones.
var prefixPairs = []Pair{
	{Old: "lk-a", New: "A"},
	{Old: "lk-abc", New: "ABC"},
	{Old: "", New: "ignored"},
	{Old: "lk-abcdef", New: ""},
	{Old: "sk-secret", New: "lk-a"},
	{Old: "aaa", New: "3"},
	{Old: "lk-lk-", New: "L"},
}

func TestReplace(t *testing.T) {
	tests := []struct {
		name    string
		pairs   []Pair
		in      string
		want    string
		matched []int
	}{
		{"no patterns leave input alone", nil, "lk-abc", "lk-abc", nil},
		{"only empty patterns leave input alone", []Pair{{"", "x"}}, "ab", "ab", nil},
		{"empty input", prefixPairs, "", "", nil},
		{"single match", prefixPairs, "x lk-a y", "x A y", []int{0}},
		{"longest of prefix patterns wins", prefixPairs, "lk-abcdefg", "g", []int{3}},
		{"middle pattern wins when longest fails", prefixPairs, "lk-abcdeX", "ABCdeX",
			[]int{1}},
		{"shortest wins when the others fail", prefixPairs, "lk-abX", "AbX", []int{0}},
		{"strip to nothing", prefixPairs, "[lk-abcdef]", "[]", []int{3}},
		{"replacement output is not rescanned", prefixPairs, "sk-secretbc", "lk-abc",
			[]int{4}},
		{"matches do not overlap", prefixPairs, "aaaaaaa", "33a", []int{5}},
		{"leftmost match wins over a later longer one", prefixPairs, "lk-lk-abc", "Labc",
			[]int{6}},
		{"partial pattern at end is kept", prefixPairs, "x lk-ab", "x Ab", []int{0}},
		{"prefix of a pattern at end is kept", prefixPairs, "x lk-", "x lk-", nil},
		{"adjacent matches", prefixPairs, "lk-alk-abclk-abcdef", "AABC", []int{0, 1, 3}},
		{"pattern at both ends", prefixPairs, "lk-a-lk-a", "A-A", []int{0}},
		{"first of duplicate patterns wins", []Pair{{"ab", "1"}, {"ab", "2"}}, "ab", "1",
			[]int{0}},
		{"whole input is one pattern", prefixPairs, "sk-secret", "lk-a", []int{4}},
		{"binary bytes", []Pair{{"\x00\xff", "z"}}, "\x00\x00\xff\xff", "\x00z\xff",
			[]int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.pairs)
			got, m := r.Replace(tt.in)
			if got != tt.want {
				t.Errorf("Replace(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !slices.Equal(indexes(m), tt.matched) {
				t.Errorf("Replace(%q) matched %v, want %v", tt.in, indexes(m), tt.matched)
			}
			if m.Any() != (len(tt.matched) > 0) {
				t.Errorf("Any() = %v with matches %v", m.Any(), tt.matched)
			}
			if ref, _ := naiveReplace(tt.pairs, tt.in); ref != tt.want {
				t.Errorf("reference gives %q; the test case is wrong", ref)
			}
		})
	}
}

func TestReplaceNoMatchReturnsSameString(t *testing.T) {
	r := New(prefixPairs)
	in := strings.Repeat("Bearer eyJhbGciOiJIUzI1NiJ9 lk-b sk-x aa ", 4)
	got, m := r.Replace(in)
	if got != in || unsafe.StringData(got) != unsafe.StringData(in) {
		t.Fatalf("Replace returned a copy or a different string: %q", got)
	}
	if m.Any() {
		t.Fatalf("Any() = true for no match")
	}
	allocs := testing.AllocsPerRun(100, func() { r.Replace(in) })
	if allocs != 0 {
		t.Fatalf("Replace with no match allocates %v times, want 0", allocs)
	}
}

func TestReplaceWithMatchAllocatesOnlyTheResult(t *testing.T) {
	r := New(prefixPairs)
	allocs := testing.AllocsPerRun(100, func() { r.Replace("Bearer lk-abc") })
	if allocs != 1 {
		t.Fatalf("Replace with a match allocates %v times, want 1", allocs)
	}
}

func TestEmpty(t *testing.T) {
	tests := []struct {
		pairs []Pair
		want  bool
	}{
		{nil, true},
		{[]Pair{}, true},
		{[]Pair{{"", "x"}}, true},
		{[]Pair{{"a", ""}}, false},
	}
	for _, tt := range tests {
		if got := New(tt.pairs).Empty(); got != tt.want {
			t.Errorf("New(%v).Empty() = %v, want %v", tt.pairs, got, tt.want)
		}
	}
}

// TestReplaceMatchesReference compares Replace with the naive reference on
// random inputs over a small alphabet, where patterns collide often, for
// pattern sets with one and with several first bytes.
func TestReplaceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		alphabet := "ab"
		if round%2 == 1 {
			alphabet = "abc-"
		}
		pairs := make([]Pair, 1+rng.IntN(6))
		for i := range pairs {
			pairs[i] = Pair{randString(rng, alphabet, rng.IntN(5)), fmt.Sprint(i)}
		}
		in := randString(rng, alphabet, rng.IntN(40))
		want, wantIdx := naiveReplace(pairs, in)
		got, m := New(pairs).Replace(in)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("pairs %q, Replace(%q) = %q %v, want %q %v",
				pairs, in, got, indexes(m), want, wantIdx)
		}
	}
}

func randString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func TestMatches(t *testing.T) {
	tests := []struct {
		name string
		set  []int
	}{
		{"none", nil},
		{"low word", []int{0, 5, 63}},
		{"beyond one word", []int{1, 64, 65, 127, 128, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Matches
			for _, i := range tt.set {
				m.set(i)
			}
			if got := indexes(m); !slices.Equal(got, tt.set) {
				t.Errorf("Each gives %v, want %v", got, tt.set)
			}
			if m.Any() != (len(tt.set) > 0) {
				t.Errorf("Any() = %v", m.Any())
			}
			for i := -1; i < 400; i++ {
				if m.Has(i) != slices.Contains(tt.set, i) {
					t.Errorf("Has(%d) = %v", i, m.Has(i))
				}
			}
		})
	}
}

func TestMatchesReportsPairsBeyondSixtyFour(t *testing.T) {
	pairs := make([]Pair, 100)
	for i := range pairs {
		pairs[i] = Pair{fmt.Sprintf("<%d>", i), ""}
	}
	_, m := New(pairs).Replace("<3> <70> <99> <3>")
	if got := indexes(m); !slices.Equal(got, []int{3, 70, 99}) {
		t.Fatalf("matched %v, want [3 70 99]", got)
	}
}

// TestStreamingMatchesReferenceOnRandomPatterns streams random inputs with
// random pattern sets, in random chunks, through both Reader and Writer.
// Small alphabets make prefixes, overlaps and cut-off patterns common.
func TestStreamingMatchesReferenceOnRandomPatterns(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for round := range 3000 {
		alphabet := []string{"ab", "abc-", "a-", "xyz"}[round%4]
		pairs := make([]Pair, 1+rng.IntN(6))
		for i := range pairs {
			pairs[i] = Pair{randString(rng, alphabet, rng.IntN(25)),
				strings.Repeat("#", rng.IntN(3))}
		}
		in := randString(rng, alphabet, rng.IntN(300))
		want, wantIdx := naiveReplace(pairs, in)
		r := New(pairs)
		chunks := randomChunks(rng, in, 1+rng.IntN(30))
		next := func() int {
			if rng.IntN(3) == 0 {
				return directMin
			}
			return 1 + rng.IntN(10)
		}
		got, m := replaceByReader(t, r, chunks, next)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("pairs %q, Reader(%q) = %q %v, want %q %v",
				pairs, in, got, indexes(m), want, wantIdx)
		}
		got, m = replaceByWriter(t, r, chunks)
		if got != want || !slices.Equal(indexes(m), wantIdx) {
			t.Fatalf("pairs %q, Writer(%q) = %q %v, want %q %v",
				pairs, in, got, indexes(m), want, wantIdx)
		}
	}
}
