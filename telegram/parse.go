package telegram

import (
	"errors"
	"strings"
	"unicode"
)

// errUnclosedQuote reports a quote that the message never closes.
var errUnclosedQuote = errors.New("a quote is not closed")

// commandLine is a message that addresses the bot with a command.
type commandLine struct {
	// name is the command without its slash, in lower case: "pool".
	name string

	// args are the words after the command, quotes removed.
	args []string
}

// parseCommand reads a message that starts with "/". It returns ok false
// for a command addressed to another bot ("/pool@otherbot" in a group),
// which is not ours to answer. botName is the bot's username; when it is
// not known yet, every command is taken as ours.
func parseCommand(text, botName string) (cl commandLine, ok bool, err error) {
	// The command word is read before the quotes, so that a command for
	// another bot is left alone even when its arguments do not parse.
	head, rest := strings.TrimLeftFunc(text, unicode.IsSpace), ""
	if i := strings.IndexFunc(head, unicode.IsSpace); i >= 0 {
		head, rest = head[:i], head[i:]
	}
	head = strings.TrimPrefix(head, "/")
	if name, target, addressed := strings.Cut(head, "@"); addressed {
		if botName != "" && !strings.EqualFold(target, botName) {
			return commandLine{}, false, nil
		}
		head = name
	}
	cl = commandLine{name: strings.ToLower(head)}
	cl.args, err = splitWords(rest)
	return cl, true, err
}

// Quote pairs that group words. Phone keyboards often replace straight
// quotes with typographic ones, so those count too.
var closingQuote = map[rune]rune{
	'"':      '"',
	'\'':     '\'',
	'\u201c': '\u201d', // “ ”
	'\u201e': '\u201d', // „ ”
	'\u2018': '\u2019', // ‘ ’
	'\u00ab': '\u00bb', // « »
}

// splitWords splits text into words at white space, the way a shell does
// without any expansion: quotes group words ("a b" is one word, "" an
// empty one), and inside straight double quotes a backslash keeps a
// following quote or backslash literal.
func splitWords(text string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	runes := []rune(text)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		if closing, isQuote := closingQuote[r]; isQuote {
			inWord = true
			j := i + 1
			for ; j < len(runes) && runes[j] != closing; j++ {
				if r == '"' && runes[j] == '\\' && j+1 < len(runes) &&
					(runes[j+1] == '"' || runes[j+1] == '\\') {
					j++
				}
				cur.WriteRune(runes[j])
			}
			if j == len(runes) {
				return nil, errUnclosedQuote
			}
			i = j
			continue
		}
		if unicode.IsSpace(r) {
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		}
		cur.WriteRune(r)
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// splitMembers reads a pool's member list, "a,b,c". Spaces around names
// are dropped; anything else, an empty name included, is passed on for
// poolops to judge, so every channel rejects the same lists.
func splitMembers(list string) []string {
	members := strings.Split(list, ",")
	for i, m := range members {
		members[i] = strings.TrimSpace(m)
	}
	return members
}

// splitOptions separates trailing key=value options from positional
// operands: "/bind add cred host header=X-Key port=443".
func splitOptions(args []string) (operands []string, options map[string]string) {
	options = map[string]string{}
	for _, a := range args {
		if key, value, ok := strings.Cut(a, "="); ok && isOptionKey(key) {
			options[strings.ToLower(key)] = value
			continue
		}
		operands = append(operands, a)
	}
	return operands, options
}

// isOptionKey reports whether key looks like an option name (letters
// only), so that an operand such as a URL with "=" in its query is not
// mistaken for an option.
func isOptionKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
