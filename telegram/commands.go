package telegram

import (
	"strings"

	"go.uber.org/zap"
	"gopkg.in/telebot.v3"
)

// request is one command to run: the operands after the (sub)command, the
// message that carried it and the configuration that serves it.
type request struct {
	bot  *sharedBot
	cfg  *config
	msg  *telebot.Message
	name string // the command as typed, e.g. "pool create", for logs
	args []string
}

// fail renders a failed operation. An internal failure is logged with its
// cause, which the chat never sees.
func (r *request) fail(err error) string {
	code, msg, refs := classify(err)
	if code == codeInternal {
		r.cfg.logger.Error("telegram command failed", zap.String("command", r.name),
			zap.Error(err))
	}
	return renderError(code, msg, refs)
}

// action is one command or subcommand the bot answers.
type action struct {
	// cmd is the command without its slash; sub the subcommand, empty for
	// a command that has none.
	cmd, sub string

	// forms are the ways to call it, for /help and usage lines.
	forms []form

	// min and max bound the number of operands after the subcommand.
	min, max int

	// run carries it out and returns the HTML reply.
	run func(r *request) string
}

// form is one way to call an action.
type form struct {
	// args are the operands, as shown in usage lines: "<name> <a,b[,c]>".
	args string

	// help says what the form does.
	help string
}

// topic groups the actions of one or more commands in /help and names
// them in the bot's command menu.
type topic struct {
	title string
	cmds  []menuEntry
}

// menuEntry is a command in the command menu (setMyCommands).
type menuEntry struct {
	cmd, description string
}

// topics lists the commands in the order /help and the menu show them.
var topics = []topic{
	{"Pools", []menuEntry{
		{"pool", "Pools: create, list, status, rotate, reset, remove"},
	}},
	{"Credentials", []menuEntry{
		{"cred", "Credentials: list, add, remove"},
	}},
	{"Bindings", []menuEntry{
		{"bind", "Bindings: add, list, remove"},
	}},
	{"Phantoms", []menuEntry{
		{"phantom", "What to give an agent for a credential or pool"},
	}},
	{"Overview", []menuEntry{
		{"status", "Pools, active members, injections and failovers"},
		{"help", "Every command"},
	}},
}

// actions is every command the bot answers. It is filled in init because
// /help refers to the table itself.
var actions []action

func init() {
	actions = []action{
		{"pool", "create", []form{{"<name> <a,b[,c]> [strategy]",
			"creates a pool of OAuth credentials, in failover order"}}, 2, 3, poolCreate},
		{"pool", "list", []form{{"", "lists pools"}}, 0, 0, poolList},
		{"pool", "status", []form{{"<name>",
			"shows the active member and the health of each member"}}, 1, 1, poolStatus},
		{"pool", "rotate", []form{{"<name>",
			"parks the active member for 5 minutes and moves to the next"}}, 1, 1, poolRotate},
		{"pool", "reset", []form{{"<name> [member]",
			"clears the cooldowns of every member, or of one"}}, 1, 2, poolReset},
		{"pool", "remove", []form{{"<name>", "removes a pool that no binding uses"}}, 1, 1,
			poolRemove},

		{"cred", "list", []form{{"", "lists credentials (never their secrets)"}}, 0, 0, credList},
		{"cred", "add", []form{
			{"<name>", "adds a static credential: send the secret as the next message"},
			{"<name> oauth <token_url>", "adds an OAuth credential: send the access, " +
				"refresh and id tokens, one per line, as the next message"},
		}, 1, 3, credAdd},
		{"cred", "remove", []form{{"<name>", "removes a credential that no binding uses"}}, 1, 1,
			credRemove},

		{"bind", "add", []form{{"<credential> <host> [port=N,M] [header=H] [template=T]",
			"binds a credential or pool to a destination host"}}, 2, 5, bindAdd},
		{"bind", "list", []form{{"", "lists bindings"}}, 0, 0, bindList},
		{"bind", "remove", []form{{"<id>", "removes a binding"}}, 1, 1, bindRemove},

		{"phantom", "", []form{{"<name>",
			"shows what to give the agent in place of a credential or pool"}}, 1, 1, phantomShow},

		{"status", "", []form{{"",
			"pools with their active member, injections and failovers since start"}}, 0, 0,
			statusShow},
		{"help", "", []form{{"", "this list"}}, 0, 1, func(*request) string { return helpText() }},
	}
}

// actionsOf returns the actions of a command.
func actionsOf(cmd string) []action {
	var out []action
	for _, a := range actions {
		if a.cmd == cmd {
			out = append(out, a)
		}
	}
	return out
}

// dispatch runs a parsed command and returns its reply.
func (s *sharedBot) dispatch(cfg *config, msg *telebot.Message, cl commandLine) string {
	acts := actionsOf(cl.name)
	if len(acts) == 0 {
		return "Unknown command /" + esc(cl.name) + ". Send /help for the list of commands."
	}

	act, args := acts[0], cl.args
	if act.sub != "" {
		if len(args) == 0 {
			return "Usage:\n" + usageLines(acts)
		}
		sub := strings.ToLower(args[0])
		found := false
		for _, a := range acts {
			if a.sub == sub {
				act, found = a, true
				break
			}
		}
		if !found {
			return "Unknown subcommand " + quoted(args[0]) + " of /" + cl.name + ". Usage:\n" +
				usageLines(acts)
		}
		args = args[1:]
	}
	if len(args) < act.min || len(args) > act.max {
		return "Usage: " + usageLines([]action{act})
	}
	name := strings.TrimSpace(act.cmd + " " + act.sub)
	return act.run(&request{bot: s, cfg: cfg, msg: msg, name: name, args: args})
}

// usage returns the usage line of the action cmd sub, for handlers that
// find their operands wrong after looking at them.
func usage(cmd, sub string) string {
	for _, a := range actions {
		if a.cmd == cmd && a.sub == sub {
			return "Usage: " + usageLines([]action{a})
		}
	}
	return ""
}

// usageLines lists the forms of actions, one per line, escaped.
func usageLines(acts []action) string {
	var lines []string
	for _, a := range acts {
		for _, f := range a.forms {
			lines = append(lines, esc(invocation(a, f)))
		}
	}
	return strings.Join(lines, "\n")
}

// invocation spells out one form: "/pool status <name>".
func invocation(a action, f form) string {
	s := "/" + a.cmd
	if a.sub != "" {
		s += " " + a.sub
	}
	if f.args != "" {
		s += " " + f.args
	}
	return s
}

// helpText is the reply to /help: every form of every command, grouped
// by topic.
func helpText() string {
	var b strings.Builder
	b.WriteString("<b>latchkey</b> commands. Put a value with spaces in quotes.\n")
	for _, t := range topics {
		b.WriteString("\n<b>" + t.title + "</b>\n")
		for _, m := range t.cmds {
			for _, a := range actionsOf(m.cmd) {
				for _, f := range a.forms {
					b.WriteString(esc(invocation(a, f)) + " — " + esc(f.help) + "\n")
				}
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// menu is the bot's command menu, set with setMyCommands at start.
func menu() []telebot.Command {
	var cmds []telebot.Command
	for _, t := range topics {
		for _, m := range t.cmds {
			cmds = append(cmds, telebot.Command{Text: m.cmd, Description: m.description})
		}
	}
	return cmds
}

// quoted renders an untrusted word in double quotes, escaped.
func quoted(s string) string {
	return `"` + esc(s) + `"`
}
