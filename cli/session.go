package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
)

// session is what a command's action works with: the invoked command (for
// its input and output streams), the API client and the output mode.
type session struct {
	cmd  *cobra.Command
	api  *client
	json bool
}

// action is the body of a command, run once the client is ready.
type action func(s *session, args []string) error

// run turns fn into a cobra RunE. The error it returns is printed by
// cobra as one line after errPrefix, and caddycmd.Main then exits with
// status 1 (caddy.ExitCodeFailedStartup), as for any failed command.
func (o *options) run(fn action) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		api, err := o.newClient()
		if err == nil {
			err = fn(&session{cmd: cmd, api: api, json: o.json}, args)
		}
		return oneLine(err)
	}
}

// call sends a request to the API and returns the answer's body. With
// --json an error answer is printed as it came, so that a script reads
// the same shape as from the REST API; the one-line error still goes to
// stderr and the exit status is still 1.
func (s *session) call(method, path string, in any) ([]byte, error) {
	data, err := s.api.do(s.cmd.Context(), method, path, in)
	if se, ok := errors.AsType[*serverError](err); ok && s.json && se.body != nil {
		s.printRaw(se.body)
	}
	return data, err
}

// out is where results go.
func (s *session) out() io.Writer { return s.cmd.OutOrStdout() }

// printf writes human output.
func (s *session) printf(format string, args ...any) {
	fmt.Fprintf(s.out(), format, args...)
}

// printRaw writes an API answer as it came, for --json. An empty answer
// (204 No Content) prints nothing.
func (s *session) printRaw(data []byte) {
	if len(data) == 0 {
		return
	}
	w := s.out()
	_, _ = w.Write(data)
	if data[len(data)-1] != '\n' {
		fmt.Fprintln(w)
	}
}

// oneLine flattens an error's message onto one line, since the server's
// messages and the system's are not ours to format.
func oneLine(err error) error {
	if err == nil {
		return nil
	}
	msg := strings.Join(strings.FieldsFunc(err.Error(), func(r rune) bool {
		return r == '\n' || r == '\r'
	}), " ")
	return errors.New(strings.Map(printable, msg))
}

// printable replaces control characters, which a hostile name could carry
// into a terminal, with '?'.
func printable(r rune) rune {
	if unicode.IsControl(r) {
		return '?'
	}
	return r
}

// exactArgs is cobra.ExactArgs with a message that shows the usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("expected %d argument(s), got %d; usage: %s", n, len(args),
				cmd.UseLine())
		}
		return nil
	}
}

// groupCommand makes a command that only holds subcommands answer an
// unknown subcommand with an error; cobra would print the help and exit 0,
// which a script would take for success.
func groupCommand(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return fmt.Errorf("unknown command %q for %q; see %s --help", args[0],
			c.CommandPath(), c.CommandPath())
	}
}

// fetch calls the API and decodes its answer into a T. With --json it
// prints the answer as it came instead and reports printed, so that every
// command's --json output is exactly the REST JSON.
func fetch[T any](s *session, method, path string, in any) (out T, printed bool, err error) {
	data, err := s.call(method, path, in)
	if err != nil {
		return out, false, err
	}
	if s.json {
		s.printRaw(data)
		return out, true, nil
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, false, fmt.Errorf("reading the answer: %v", err)
	}
	return out, false, nil
}
