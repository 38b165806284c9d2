package failover

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxFieldRunes bounds each name or tag placed in a notice or reason. Valid
// names are at most 64 characters; the bound keeps a hostile one from
// flooding a log line or a chat message.
const maxFieldRunes = 128

// TagText turns a verdict tag into the words a notice uses, such as
// "rate limit (429)". An empty tag gives "", and a tag it does not know
// gives "unknown reason (<tag>)".
func TagText(tag string) string {
	tag = cleanField(tag)
	switch tag {
	case "":
		return ""
	case "429":
		return "rate limit (429)"
	case "403":
		return "quota exhausted (403)"
	case "401":
		return "auth failure (401)"
	case "invalid_grant":
		return "auth failure (invalid_grant)"
	case "invalid_token":
		return "auth failure (invalid_token)"
	}
	return "unknown reason (" + tag + ")"
}

// FailoverNotice is the one-line operator notice for a switch of pool from
// member from to member to, for example
// `Pool "p" failed over from "a" to "b" after rate limit (429).`
// An empty tag drops the "after" clause.
func FailoverNotice(pool, from, to, tag string) string {
	s := "Pool " + quoted(pool) + " failed over from " + quoted(from) + " to " + quoted(to)
	if text := TagText(tag); text != "" {
		s += " after " + text
	}
	return s + "."
}

// ExhaustedNotice is the one-line operator notice for a pool with no
// healthy member left, for example `Pool "p" exhausted: all members are
// cooling down, no healthy account to fail over to (auth failure (401)).`
// An empty tag drops the parenthesised clause.
func ExhaustedNotice(pool, tag string) string {
	s := "Pool " + quoted(pool) +
		" exhausted: all members are cooling down, no healthy account to fail over to"
	if text := TagText(tag); text != "" {
		s += " (" + text + ")"
	}
	return s + "."
}

// FailoverReason is the reason of a cred_failover event,
// "<pool>:<from>-><to>:<tag>". It is also the de-duplication key, so equal
// transitions give equal reasons.
func FailoverReason(pool, from, to, tag string) string {
	return cleanField(pool) + ":" + cleanField(from) + "->" + cleanField(to) + ":" + cleanField(tag)
}

// ExhaustedReason is the reason of a pool_exhausted event,
// "<pool>:exhausted:<tag>".
func ExhaustedReason(pool, tag string) string {
	return cleanField(pool) + ":exhausted:" + cleanField(tag)
}

// quoted wraps a cleaned name in plain double quotes. A double quote inside
// the name becomes a single quote, so the name cannot appear to end early
// and smuggle text that looks like the notice's own.
func quoted(name string) string {
	return `"` + strings.ReplaceAll(cleanField(name), `"`, "'") + `"`
}

// cleanField makes an untrusted name or tag safe for a one-line notice: it
// drops invalid UTF-8, control characters (CR and LF among them), line and
// paragraph separators, and invisible format characters such as bidi
// overrides that could make a line read differently from what it holds;
// then it cuts the result at maxFieldRunes.
func cleanField(s string) string {
	if isPlainField(s) {
		return s
	}

	var b strings.Builder
	n := 0
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				continue
			}
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			continue
		}
		if n == maxFieldRunes {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// isPlainField reports whether s is short printable ASCII, the normal case,
// which needs no copy.
func isPlainField(s string) bool {
	if len(s) > maxFieldRunes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
