package telegram

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
)

// TestPoolParityWithPoolops runs the pool scenarios of the poolops parity
// table through the bot on one engine and straight through poolops on a
// twin engine, and checks after every step that both report the same
// outcome class and the same live state. The bot's code for each error
// class is the REST API's.
func TestPoolParityWithPoolops(t *testing.T) {
	h := newHarness(t, operator)
	twin := newEngine(t)
	seedCredentials(t, twin)
	ops := poolops.New(twin)

	// Both engines bind the pool once it exists, for the referenced case.
	bind := func(eng *engine.Engine) {
		if _, err := eng.AddBinding(engine.BindingSpec{Credential: "p",
			Destination: "api.test"}); err != nil {
			t.Fatal(err)
		}
	}
	unbind := func(eng *engine.Engine) {
		for _, b := range eng.Bindings() {
			if err := eng.RemoveBinding(b.ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	steps := []struct {
		name   string
		before func(*engine.Engine)
		bot    string
		ops    func() error
		want   error  // the poolops sentinel; nil for success
		code   string // the bot's error code
	}{
		{"create", nil, "/pool create p a,b",
			func() error { _, err := ops.Create("p", []string{"a", "b"}, ""); return err },
			nil, ""},
		{"create: validation, bad name", nil, `/pool create "a b" c`,
			func() error { _, err := ops.Create("a b", []string{"c"}, ""); return err },
			poolops.ErrValidation, codeInvalid},
		{"create: validation, no members", nil, `/pool create q ""`,
			func() error { _, err := ops.Create("q", []string{""}, ""); return err },
			poolops.ErrValidation, codeInvalid},
		{"create: validation, duplicate", nil, "/pool create q c,c",
			func() error { _, err := ops.Create("q", []string{"c", "c"}, ""); return err },
			poolops.ErrValidation, codeInvalid},
		{"create: validation, static member", nil, "/pool create q s",
			func() error { _, err := ops.Create("q", []string{"s"}, ""); return err },
			poolops.ErrValidation, codeInvalid},
		{"create: name conflict", nil, "/pool create s c",
			func() error { _, err := ops.Create("s", []string{"c"}, ""); return err },
			poolops.ErrNameConflict, codeConflict},
		{"create: already pooled", nil, "/pool create q a,c",
			func() error { _, err := ops.Create("q", []string{"a", "c"}, ""); return err },
			poolops.ErrAlreadyPooled, codeAlreadyPooled},
		{"status", nil, "/pool status p",
			func() error { _, err := ops.Status("p"); return err }, nil, ""},
		{"status: not found", nil, "/pool status nope",
			func() error { _, err := ops.Status("nope"); return err }, poolops.ErrNotFound,
			codeNotFound},
		{"status: validation", nil, `/pool status "<b>"`,
			func() error { _, err := ops.Status("<b>"); return err }, poolops.ErrValidation,
			codeInvalid},
		{"rotate", nil, "/pool rotate p",
			func() error { _, err := ops.Rotate("p"); return err }, nil, ""},
		{"rotate: not found", nil, "/pool rotate nope",
			func() error { _, err := ops.Rotate("nope"); return err }, poolops.ErrNotFound,
			codeNotFound},
		{"reset one member", nil, "/pool reset p a",
			func() error { _, err := ops.Reset("p", "a"); return err }, nil, ""},
		{"rotate again", nil, "/pool rotate p",
			func() error { _, err := ops.Rotate("p"); return err }, nil, ""},
		{"reset", nil, "/pool reset p",
			func() error { _, err := ops.Reset("p", ""); return err }, nil, ""},
		{"reset: not a member", nil, "/pool reset p c",
			func() error { _, err := ops.Reset("p", "c"); return err }, poolops.ErrValidation,
			codeInvalid},
		{"reset: not found", nil, "/pool reset nope",
			func() error { _, err := ops.Reset("nope", ""); return err }, poolops.ErrNotFound,
			codeNotFound},
		{"remove: referenced", bind, "/pool remove p",
			func() error { return ops.Remove("p") }, poolops.ErrReferenced, codeReferenced},
		{"remove", unbind, "/pool remove p",
			func() error { return ops.Remove("p") }, nil, ""},
		{"remove: not found", nil, "/pool remove p",
			func() error { return ops.Remove("p") }, poolops.ErrNotFound, codeNotFound},
	}

	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(h.eng)
				st.before(twin)
			}
			reply := h.reply(st.bot)
			err := st.ops()

			if st.want == nil {
				if err != nil {
					t.Fatalf("poolops: expected success, saw %v", err)
				}
				if strings.HasPrefix(reply, "<b>Error</b>") {
					t.Errorf("bot %s: expected success like poolops, saw %q", st.bot, reply)
				}
			} else {
				if !errors.Is(err, st.want) {
					t.Fatalf("poolops: expected %v, saw %v", st.want, err)
				}
				msg := trimSentinels(err.Error())
				// Binding ids are random per engine; the twin's stand for ours.
				for i, b := range twin.Bindings() {
					msg = strings.ReplaceAll(msg, b.ID, h.eng.Bindings()[i].ID)
				}
				prefix := "<b>Error</b> (" + st.code + "): " + esc(msg)
				if !strings.HasPrefix(reply, prefix) {
					t.Errorf("bot %s:\n expected %q (poolops' message)\n      saw %q", st.bot,
						prefix, reply)
				}
			}
			if got, want := poolState(h.ops), poolState(ops); !reflect.DeepEqual(got, want) {
				t.Errorf("state after %s:\n through the bot %v\n through poolops %v",
					st.bot, got, want)
			}
		})
	}
}

// poolState is what poolops reports of every pool, without times: each
// pool's members and strategy, the active member, and each member's state
// and last reason.
func poolState(ops *poolops.Ops) []string {
	var out []string
	for _, p := range ops.List() {
		st, err := ops.Status(p.Name)
		if err != nil {
			out = append(out, p.Name+": "+err.Error())
			continue
		}
		line := fmt.Sprintf("%s %s active=%s", st.Name, st.Strategy, st.Active)
		for _, m := range st.Members {
			line += fmt.Sprintf(" [%d %s %s %q]", m.Position, m.Credential, m.State,
				m.LastFailureReason)
		}
		out = append(out, line)
	}
	return out
}
