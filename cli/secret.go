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

// maxSecretBytes bounds a secret read from stdin. The server applies the
// real limit; this one stops a mistaken pipe of a large file early.
const maxSecretBytes = 64 << 10

// readSecret reads a secret for the named credential: from a hidden prompt
// on stderr when in is a terminal, otherwise from the first line of in.
// Secrets never come from flags, which shells keep in their history and
// the system shows in its process list.
func readSecret(in io.Reader, prompt io.Writer, name string) (string, error) {
	var secret string
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(prompt, "Secret for %q (input is hidden): ", name)
		raw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the secret: %v", err)
		}
		secret = strings.TrimRight(string(raw), "\r\n")
	} else {
		var err error
		if secret, err = readFirstLine(in); err != nil {
			return "", err
		}
	}
	if secret == "" {
		return "", errors.New("the secret is empty; type it at the prompt or pipe it on stdin")
	}
	return secret, nil
}

// readFirstLine returns the first line of r without its line ending (LF or
// CRLF). The rest of r is left unread.
func readFirstLine(r io.Reader) (string, error) {
	// Two bytes over the bound leave room for a CRLF after a secret of
	// exactly maxSecretBytes.
	line, err := bufio.NewReader(io.LimitReader(r, maxSecretBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the secret from stdin: %v", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if len(line) > maxSecretBytes {
		return "", fmt.Errorf("the secret on stdin is longer than %d bytes", maxSecretBytes)
	}
	return line, nil
}
