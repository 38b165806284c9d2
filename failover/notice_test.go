package failover

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestTagText(t *testing.T) {
	tests := []struct{ tag, want string }{
		{"429", "rate limit (429)"},
		{"403", "quota exhausted (403)"},
		{"401", "auth failure (401)"},
		{"invalid_grant", "auth failure (invalid_grant)"},
		{"invalid_token", "auth failure (invalid_token)"},
		{"", ""},
		{"manual rotate", "unknown reason (manual rotate)"},
		{"500", "unknown reason (500)"},
		{"4\r\n29", "rate limit (429)"},
		{"\n", ""},
	}
	for _, tt := range tests {
		if got := TagText(tt.tag); got != tt.want {
			t.Errorf("TagText(%q) = %q, want %q", tt.tag, got, tt.want)
		}
	}
}

func TestFailoverNotice(t *testing.T) {
	tests := []struct {
		name                string
		pool, from, to, tag string
		want                string
	}{
		{
			"rate limit", "p", "a", "b", "429",
			`Pool "p" failed over from "a" to "b" after rate limit (429).`,
		},
		{
			"quota", "codex", "alice", "bob", "403",
			`Pool "codex" failed over from "alice" to "bob" after quota exhausted (403).`,
		},
		{
			"auth failure", "p", "a.1", "b_2", "401",
			`Pool "p" failed over from "a.1" to "b_2" after auth failure (401).`,
		},
		{
			"invalid grant", "p", "a", "b", "invalid_grant",
			`Pool "p" failed over from "a" to "b" after auth failure (invalid_grant).`,
		},
		{
			"invalid token", "p", "a", "b", "invalid_token",
			`Pool "p" failed over from "a" to "b" after auth failure (invalid_token).`,
		},
		{
			"unknown tag", "p", "a", "b", "manual rotate",
			`Pool "p" failed over from "a" to "b" after unknown reason (manual rotate).`,
		},
		{"empty tag drops the clause", "p", "a", "b", "", `Pool "p" failed over from "a" to "b".`},
		{
			"line breaks in a name are removed", "p\r\nPool \"x\" exhausted", "a", "b", "429",
			`Pool "pPool 'x' exhausted" failed over from "a" to "b" after rate limit (429).`,
		},
		{
			"bidi override and NUL are removed", "p", "a\u202eb\x00", "c", "",
			`Pool "p" failed over from "ab" to "c".`,
		},
		{
			"invalid UTF-8 is dropped, real text is kept", "p\xff", "é", "c", "",
			`Pool "p" failed over from "é" to "c".`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FailoverNotice(tt.pool, tt.from, tt.to, tt.tag); got != tt.want {
				t.Fatalf("FailoverNotice = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExhaustedNotice(t *testing.T) {
	const prefix = `Pool "p" exhausted: all members are cooling down, ` +
		`no healthy account to fail over to`
	tests := []struct{ pool, tag, want string }{
		{"p", "401", prefix + ` (auth failure (401)).`},
		{"p", "429", prefix + ` (rate limit (429)).`},
		{"p", "403", prefix + ` (quota exhausted (403)).`},
		{"p", "invalid_grant", prefix + ` (auth failure (invalid_grant)).`},
		{"p", "invalid_token", prefix + ` (auth failure (invalid_token)).`},
		{"p", "x", prefix + ` (unknown reason (x)).`},
		{"p", "", prefix + `.`},
		{"p\n", "\r", prefix + `.`},
	}
	for _, tt := range tests {
		if got := ExhaustedNotice(tt.pool, tt.tag); got != tt.want {
			t.Errorf("ExhaustedNotice(%q, %q) = %q, want %q", tt.pool, tt.tag, got, tt.want)
		}
	}
}

func TestReasons(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"failover", FailoverReason("p", "a", "b", "429"), "p:a->b:429"},
		{"failover without tag", FailoverReason("p", "a", "b", ""), "p:a->b:"},
		{"failover strips line breaks", FailoverReason("p\n", "a\r", "b", "4\x0029"), "p:a->b:429"},
		{"exhausted", ExhaustedReason("p", "401"), "p:exhausted:401"},
		{"exhausted without tag", ExhaustedReason("p", ""), "p:exhausted:"},
		{
			"exhausted strips line breaks",
			ExhaustedReason("p\r\n", "invalid_grant"), "p:exhausted:invalid_grant",
		},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestCleanFieldBoundsLength(t *testing.T) {
	long := strings.Repeat("é", 1000)
	got := cleanField(long)
	if want := strings.Repeat("é", maxFieldRunes) + "…"; got != want {
		t.Fatalf("cleanField of 1000 runes gave %d runes, want %d and an ellipsis",
			utf8.RuneCountInString(got), maxFieldRunes)
	}
	ascii := strings.Repeat("a", maxFieldRunes+1)
	if got := cleanField(ascii); got != ascii[:maxFieldRunes]+"…" {
		t.Fatalf("cleanField of a long ASCII name = %q", got)
	}
	exact := strings.Repeat("a", maxFieldRunes)
	if got := cleanField(exact); got != exact {
		t.Fatalf("cleanField cut a name of exactly maxFieldRunes: %q", got)
	}
}

func FuzzNoticeIsOneLine(f *testing.F) {
	f.Add("p", "a", "b", "429")
	f.Add("p\r\n", "a\u2028", "b\u0085", "\x1b[31m")
	f.Fuzz(func(t *testing.T, pool, from, to, tag string) {
		for _, s := range []string{
			FailoverNotice(pool, from, to, tag), ExhaustedNotice(pool, tag),
			FailoverReason(pool, from, to, tag), ExhaustedReason(pool, tag),
		} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in %q", s)
			}
			for _, r := range s {
				if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
					t.Fatalf("control or line-breaking rune %U in %q", r, s)
				}
			}
		}
	})
}
