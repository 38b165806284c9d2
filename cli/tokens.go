package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// oauthTokens are the tokens of an OAuth account, as an operator types or
// pipes them.
type oauthTokens struct {
	access, refresh, id string
}

// tokenPrompts name the tokens in the order they are read. Only the
// access token is required; an empty line skips the others.
var tokenPrompts = []string{
	"Access token for %q (input is hidden): ",
	"Refresh token (optional, Enter to skip): ",
	"ID token (optional, Enter to skip): ",
}

// readTokens reads an OAuth account's tokens for the named credential:
// from hidden prompts on stderr when in is a terminal, otherwise from the
// first three lines of in (access token, refresh token, id token; a
// missing or empty line skips an optional token). Like every secret, they
// never come from flags.
func readTokens(in io.Reader, prompt io.Writer, name string) (oauthTokens, error) {
	var lines []string
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		for _, p := range tokenPrompts {
			fmt.Fprintf(prompt, p, name)
			raw, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			if err != nil {
				return oauthTokens{}, fmt.Errorf("reading the tokens: %v", err)
			}
			lines = append(lines, strings.TrimRight(string(raw), "\r\n"))
			if len(lines) == 1 && lines[0] == "" {
				break
			}
		}
	} else {
		// One reader for all lines: each bufio.Reader reads ahead, so a
		// fresh one per line would swallow the next.
		br := bufio.NewReader(io.LimitReader(in, int64(len(tokenPrompts))*(maxSecretBytes+2)))
		for range tokenPrompts {
			line, err := readLine(br)
			if err != nil {
				return oauthTokens{}, err
			}
			lines = append(lines, line)
		}
	}

	lines = append(lines, "", "", "")
	t := oauthTokens{access: lines[0], refresh: lines[1], id: lines[2]}
	if t.access == "" {
		return oauthTokens{}, errors.New("the access token is empty; type it at the prompt " +
			"or pipe the tokens on stdin, one per line: access, refresh, id token")
	}
	return t, nil
}

// readLine returns the next line of br without its line ending (LF or
// CRLF), or "" at the end of the input.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the tokens from stdin: %v", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if len(line) > maxSecretBytes {
		return "", fmt.Errorf("a token on stdin is longer than %d bytes", maxSecretBytes)
	}
	return line, nil
}
