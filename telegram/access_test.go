package telegram

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/failover"
)

func TestForeignChatIsIgnoredAndLoggedOnce(t *testing.T) {
	h := newHarness(t, operator)
	const stranger int64 = 99

	for _, text := range []string{"/pool list", "/cred add x", "sk-not-for-you"} {
		if got := h.sayIn(stranger, text); len(got) != 0 {
			t.Errorf("%q from chat %d: expected no reply, saw %q", text, stranger, got)
		}
	}
	logs := h.logged("ignoring telegram chat not in chat_ids")
	if len(logs) != 1 {
		t.Fatalf("log lines about chat %d: expected 1, saw %d", stranger, len(logs))
	}
	if id, _ := logs[0].ContextMap()["chat_id"].(int64); id != stranger {
		t.Errorf("logged chat_id: expected %d, saw %v", stranger, logs[0].ContextMap())
	}
	assertNotLogged(t, h.logs, "sk-not-for-you")

	// The stranger's /cred add did not arm anything for the operator, and
	// nothing was deleted or stored.
	if len(h.tg.Deleted()) != 0 {
		t.Errorf("deleted messages: expected none, saw %+v", h.tg.Deleted())
	}
	if got := h.reply("/pool list"); !strings.HasPrefix(got, "No pools") {
		t.Errorf("operator after the stranger: expected the pool list, saw %q", got)
	}

	// A second stranger is logged too, once.
	h.sayIn(-1001, "/status")
	h.sayIn(-1001, "/status")
	if n := len(h.logged("ignoring telegram chat not in chat_ids")); n != 2 {
		t.Errorf("log lines after a second foreign chat: expected 2, saw %d", n)
	}
}

func TestValuesAreEscapedInReplies(t *testing.T) {
	h := newHarness(t, operator)

	// A hostile name is refused, and the refusal shows it as text.
	for _, cmd := range []string{`/pool status "<b>&"`, `/pool create "<b>&" a,b`,
		`/phantom "<b>&"`} {
		want := `<b>Error</b> (invalid): name "&lt;b&gt;&amp;" has a character outside ` +
			`A-Z a-z 0-9 . _ -`
		if got := h.reply(cmd); got != want {
			t.Errorf("%s:\n expected %q\n      saw %q", cmd, want, got)
		}
	}
	if got, want := h.reply("/<b>&"), "Unknown command /&lt;b&gt;&amp;. Send /help for "+
		"the list of commands."; got != want {
		t.Errorf("/<b>&: expected %q, saw %q", want, got)
	}
	if got, want := h.reply("/pool <b>&"), `Unknown subcommand "&lt;b&gt;&amp;" of /pool. `+
		"Usage:\n"+poolUsage; got != want {
		t.Errorf("/pool <b>&: expected %q, saw %q", want, got)
	}

	// A failure reason from upstream holding markup renders as text.
	h.reply("/pool create p a,b")
	v := failover.Verdict{Kind: failover.RateLimited, Tag: "<b>&", Cooldown: time.Minute}
	if _, err := h.eng.ReportFailure("p", "a", v, "api.test"); err != nil {
		t.Fatal(err)
	}
	want := "Pool <b>p</b> (failover), active <b>b</b>:\n<pre>  a  cooldown until <T>  " +
		"unknown reason (&lt;b&gt;&amp;)\n* b  healthy</pre>"
	if got := normalise(h.reply("/pool status p")); got != want {
		t.Errorf("/pool status with a hostile reason:\n expected %q\n      saw %q", want, got)
	}
}
