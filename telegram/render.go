package telegram

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
)

// Replies are HTML (Telegram's parse_mode "HTML"). Every value that comes
// from a user, the store or an upstream goes through esc, so a name or a
// failure reason holding "<b>" shows as text instead of changing the
// markup or making Telegram refuse the message.

// htmlEscaper escapes the three characters Telegram's HTML parser treats
// as markup. Quotes stay as they are: replies never put values inside
// attributes, and a literal quote reads better than &#34; in the chat.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc makes an untrusted value safe to place in a reply: markup
// characters are escaped and control characters (a newline among them)
// become spaces, so one value cannot break a line or a table apart.
func esc(s string) string {
	return htmlEscaper.Replace(oneLine(s))
}

// oneLine replaces control and invisible format characters (such as bidi
// overrides) with spaces and drops invalid UTF-8.
func oneLine(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				continue
			}
		}
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII, the usual case, which
// oneLine returns unchanged.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bold renders an untrusted value in bold.
func bold(s string) string { return "<b>" + esc(s) + "</b>" }

// code renders an untrusted value in a monospace span, which Telegram
// copies with one tap.
func code(s string) string { return "<code>" + esc(s) + "</code>" }

// pre renders lines that are already escaped as one preformatted block,
// so that columns line up.
func pre(lines []string) string {
	return "<pre>" + strings.Join(lines, "\n") + "</pre>"
}

// table lays rows out in columns two spaces apart under a header, the way
// the CLI does, and returns the escaped lines for pre. An empty cell
// shows as "-".
func table(header []string, rows [][]string) []string {
	all := append([][]string{header}, rows...)
	widths := make([]int, len(header))
	for _, row := range all {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell(c)))
		}
	}
	lines := make([]string, len(all))
	for n, row := range all {
		var b strings.Builder
		for i, c := range row {
			c = cell(c)
			b.WriteString(esc(c))
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		lines[n] = b.String()
	}
	return lines
}

// cell is a table cell's text: one line, "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}

// formatTime prints a time in UTC to the second, as the CLI does.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// Error codes of replies. They are the REST API's "code" values, so an
// operator sees the same classification on every channel.
const (
	codeInvalid       = "invalid"
	codeNotFound      = "not_found"
	codeConflict      = "conflict"
	codeAlreadyPooled = "already_pooled"
	codeRace          = "race"
	codeReferenced    = "referenced"
	codeInternal      = "internal"
)

// classify maps an engine or poolops error onto a reply code, the message
// for the operator and, for a removal that bindings block, those
// bindings. poolops is asked first: its sentinels are the finer
// classification of the engine errors they wrap. Anything neither
// classifies is internal, and its text is not shown (it may name files
// or store internals); the caller logs it.
func classify(err error) (code, msg string, refs []engine.Binding) {
	if ref, ok := errors.AsType[*poolops.ReferencedError](err); ok {
		return codeReferenced, err.Error(), ref.Bindings
	}
	if ref, ok := errors.AsType[*engine.ReferencedError](err); ok {
		return codeReferenced, err.Error(), ref.Bindings
	}
	switch {
	case errors.Is(err, poolops.ErrInternal):
		return codeInternal, "internal error", nil
	case errors.Is(err, poolops.ErrValidation), errors.Is(err, engine.ErrInvalid):
		code = codeInvalid
	case errors.Is(err, poolops.ErrNotFound), errors.Is(err, engine.ErrNotFound):
		code = codeNotFound
	case errors.Is(err, poolops.ErrAlreadyPooled):
		code = codeAlreadyPooled
	case errors.Is(err, poolops.ErrRace):
		code = codeRace
	case errors.Is(err, poolops.ErrNameConflict), errors.Is(err, engine.ErrConflict):
		code = codeConflict
	default:
		return codeInternal, "internal error", nil
	}
	return code, trimSentinels(err.Error()), nil
}

// trimSentinels drops the engine sentinel's text ("not found: ") from the
// front of a message: the code already says it.
func trimSentinels(msg string) string {
	for _, s := range []error{engine.ErrInvalid, engine.ErrNotFound, engine.ErrConflict} {
		if rest, ok := strings.CutPrefix(msg, s.Error()+": "); ok && rest != "" {
			return rest
		}
	}
	return msg
}

// renderError is the reply to a failed operation:
//
//	Error (not_found): no pool called "x"
//
// A removal blocked by bindings adds one line per binding with the
// command that removes it.
func renderError(code, msg string, refs []engine.Binding) string {
	s := "<b>Error</b> (" + code + "): " + esc(msg)
	for _, b := range refs {
		s += "\n/bind remove " + esc(b.ID) + "  (" + esc(b.Destination) + ")"
	}
	return s
}
