package telegram

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplitWordsHonoursQuotes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"a b  c", []string{"a", "b", "c"}, nil},
		{`"a b" c`, []string{"a b", "c"}, nil},
		{`'a "b"' c`, []string{`a "b"`, "c"}, nil},
		{`x="Bearer {value}"`, []string{"x=Bearer {value}"}, nil},
		{`"say \"hi\"" \\`, []string{`say "hi"`, `\\`}, nil},
		{`“typographic quotes” ‘too’`, []string{"typographic quotes", "too"}, nil},
		{`"" end`, []string{"", "end"}, nil},
		{"tab\tand\nnewline", []string{"tab", "and", "newline"}, nil},
		{`"open`, nil, errUnclosedQuote},
		{`“open`, nil, errUnclosedQuote},
		{"", nil, nil},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if !errors.Is(err, tt.err) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; expected %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseCommandRecognisesItsAddressee(t *testing.T) {
	tests := []struct {
		in, bot string
		name    string
		args    []string
		ours    bool
	}{
		{"/pool list", "lkbot", "pool", []string{"list"}, true},
		{"/Pool@LKBot list", "lkbot", "pool", []string{"list"}, true},
		{"/pool@other list", "lkbot", "", nil, false},
		{"/pool@other list", "", "pool", []string{"list"}, true}, // name not known yet
		{"  /status", "lkbot", "status", nil, true},
		{"/cred\nlist", "lkbot", "cred", []string{"list"}, true},
	}
	for _, tt := range tests {
		cl, ours, err := parseCommand(tt.in, tt.bot)
		if err != nil || ours != tt.ours || cl.name != tt.name ||
			strings.Join(cl.args, "|") != strings.Join(tt.args, "|") {
			t.Errorf("parseCommand(%q, %q) = %+v, %v, %v; expected %s %q, %v", tt.in, tt.bot,
				cl, ours, err, tt.name, tt.args, tt.ours)
		}
	}
	if _, ours, err := parseCommand(`/pool@other "open`, "lkbot"); ours || err != nil {
		t.Errorf("another bot's unparsable command: expected to be left alone, saw %v %v",
			ours, err)
	}
}

func TestSplitOptionsKeepsURLsAsOperands(t *testing.T) {
	ops, opts := splitOptions([]string{"cred", "https://x.test/?a=b", "header=X", "Port=1"})
	if !reflect.DeepEqual(ops, []string{"cred", "https://x.test/?a=b"}) ||
		!reflect.DeepEqual(opts, map[string]string{"header": "X", "port": "1"}) {
		t.Errorf("splitOptions = %q %q", ops, opts)
	}
}
