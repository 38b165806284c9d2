package telegram

import (
	"sort"
	"strconv"
	"strings"

	"github.com/latchkeyproxy/latchkey/engine"
)

// bindAdd answers /bind add <credential> <host> [port=N,M] [header=H]
// [template=T]. Options left out take the engine's defaults.
func bindAdd(r *request) string {
	operands, options := splitOptions(r.args)
	if len(operands) != 2 {
		return usage("bind", "add")
	}
	spec := engine.BindingSpec{Credential: operands[0], Destination: operands[1],
		Header: options["header"], Template: options["template"]}
	delete(options, "header")
	delete(options, "template")
	if raw, ok := options["port"]; ok {
		delete(options, "port")
		for _, p := range strings.Split(raw, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return renderError(codeInvalid, "port "+strconv.Quote(p)+" is not a number", nil)
			}
			spec.Ports = append(spec.Ports, n)
		}
	}
	if len(options) > 0 {
		unknown := make([]string, 0, len(options))
		for k := range options {
			unknown = append(unknown, k)
		}
		sort.Strings(unknown)
		return "Unknown option " + quoted(unknown[0]) + "; /bind add takes port=, header= " +
			"and template=.\n" + usage("bind", "add")
	}

	b, err := r.cfg.eng.AddBinding(spec)
	if err != nil {
		return r.fail(err)
	}
	return "Binding " + code(b.ID) + " added: " + bold(b.Credential) + " on " +
		bold(b.Destination) + ", ports " + esc(formatPorts(b.Ports)) + ", header " +
		esc(b.Header) + "."
}

// bindList answers /bind list.
func bindList(r *request) string {
	binds := r.cfg.eng.Bindings()
	if len(binds) == 0 {
		return "No bindings. Add one with /bind add &lt;credential&gt; &lt;host&gt;."
	}
	rows := make([][]string, len(binds))
	for i, b := range binds {
		rows[i] = []string{b.ID, b.Credential, b.Destination, formatPorts(b.Ports), b.Header}
	}
	return pre(table([]string{"ID", "CREDENTIAL", "DESTINATION", "PORTS", "HEADER"}, rows))
}

// bindRemove answers /bind remove <id>.
func bindRemove(r *request) string {
	if err := r.cfg.eng.RemoveBinding(r.args[0]); err != nil {
		return r.fail(err)
	}
	return "Binding " + code(r.args[0]) + " removed."
}

// formatPorts lists ports, or "any" when a binding has none.
func formatPorts(ports []int) string {
	if len(ports) == 0 {
		return "any"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// phantomShow answers /phantom <name>. Phantoms are worthless outside
// latchkey, so they may be shown; each sits in its own monospace span so
// that one tap copies it.
func phantomShow(r *request) string {
	name := r.args[0]
	if err := engine.ValidateName(name); err != nil {
		return r.fail(err)
	}
	p, err := r.cfg.eng.Phantom(name)
	if err != nil {
		return r.fail(err)
	}
	if p.Phantom != "" {
		return "Phantom of " + bold(p.Name) + " (" + esc(p.Kind) + "), for the agent in " +
			"place of the secret:\n" + code(p.Phantom)
	}
	lines := []string{"Phantoms of " + bold(p.Name) + " (" + esc(p.Kind) + "), for the " +
		"agent's auth file:"}
	for _, f := range []struct{ label, value string }{
		{"access token", p.AccessToken},
		{"refresh token", p.RefreshToken},
		{"id token", p.IDToken},
		{"account id", p.AccountID},
	} {
		if f.value != "" {
			lines = append(lines, f.label+":", code(f.value))
		}
	}
	return strings.Join(lines, "\n")
}
