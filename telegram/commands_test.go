package telegram

import (
	"strings"
	"testing"

	"github.com/latchkeyproxy/latchkey/telegram/telegramtest"
)

// poolUsage is the usage of /pool, as /pool alone and an unknown
// subcommand answer it.
// noPools is the answer to /pool list when there are none.
const noPools = "No pools. Create one with /pool create &lt;name&gt; &lt;a,b&gt;."

const poolUsage = "/pool create &lt;name&gt; &lt;a,b[,c]&gt; [strategy]\n" +
	"/pool list\n" +
	"/pool status &lt;name&gt;\n" +
	"/pool rotate &lt;name&gt;\n" +
	"/pool reset &lt;name&gt; [member]\n" +
	"/pool remove &lt;name&gt;"

// TestCommandReplies runs a session through every command and checks each
// reply's exact text. Rows run in order and build on each other; {bind}
// stands for the id of the binding the session adds, and <T> for a time.
func TestCommandReplies(t *testing.T) {
	h := newHarness(t, operator)
	steps := []struct {
		say  string
		want []string // nil: no reply at all
	}{
		// Pools.
		{"/pool list", []string{noPools}},
		{"/pool create p a,b", []string{"Pool <b>p</b> created with members a, b " +
			"(strategy failover). Bind it with /bind add p &lt;host&gt;."}},
		{"/pool list", []string{"<pre>NAME  STRATEGY  MEMBERS\np     failover  a,b</pre>"}},
		{"/pool status p", []string{"Pool <b>p</b> (failover), active <b>a</b>:\n" +
			"<pre>* a  healthy\n  b  healthy</pre>"}},
		{"/pool rotate p", []string{"Pool <b>p</b> rotated from <b>a</b> to <b>b</b>; a is " +
			"parked until <T>."}},
		{"/pool status p", []string{"Pool <b>p</b> (failover), active <b>b</b>:\n" +
			"<pre>  a  cooldown until <T>  manual rotate\n* b  healthy</pre>"}},
		{"/pool reset p a", []string{"Cooldown of <b>a</b> in pool <b>p</b> cleared.\n" +
			"Pool <b>p</b> (failover), active <b>b</b>:\n<pre>  a  healthy\n* b  healthy</pre>"}},
		{"/pool reset p", []string{"Cooldowns of pool <b>p</b> cleared.\n" +
			"Pool <b>p</b> (failover), active <b>b</b>:\n<pre>  a  healthy\n* b  healthy</pre>"}},
		{"/pool reset p c", []string{`<b>Error</b> (invalid): "c" is not a member of pool "p"`}},
		{"/pool status nope", []string{`<b>Error</b> (not_found): no pool called "nope"`}},
		{"/pool rotate nope", []string{`<b>Error</b> (not_found): no pool called "nope"`}},
		{"/pool create q a", []string{`<b>Error</b> (already_pooled): member already ` +
			`pooled: "a" is a member of pool "p"`}},
		{"/pool create s c", []string{`<b>Error</b> (conflict): the name "s" is already ` +
			`taken by a credential or pool`}},
		{"/pool create q zz", []string{`<b>Error</b> (invalid): member "zz" is not a ` +
			`credential`}},
		{"/pool create q s", []string{`<b>Error</b> (invalid): member "s" is a static ` +
			`credential; pools take oauth credentials`}},
		{"/pool create q c rr", []string{`<b>Error</b> (invalid): strategy "rr" is not ` +
			`supported (use "failover")`}},
		{"/pool create q ,c", []string{`<b>Error</b> (invalid): member 0: invalid: name is ` +
			`empty`}},

		// Bindings, and a removal they block.
		{"/bind add p api.test", []string{"Binding <code>{bind}</code> added: <b>p</b> on " +
			"<b>api.test</b>, ports any, header Authorization."}},
		{"/pool remove p", []string{`<b>Error</b> (referenced): "p" is still used by ` +
			`bindings {bind} (api.test); remove them first` +
			"\n/bind remove {bind}  (api.test)"}},
		{"/bind list", []string{"<pre>ID                CREDENTIAL  DESTINATION  PORTS  HEADER\n" +
			"{bind}  p           api.test     any    Authorization</pre>"}},
		{"/status", []string{"<b>latchkey</b> since <T>: 4 credentials, 1 binding, 1 pool.\n" +
			"<pre>POOL  ACTIVE  HEALTHY  INJECTIONS  FAILOVERS\n" +
			"p     b       2/2      0           0</pre>"}},
		{"/bind remove {bind}", []string{"Binding <code>{bind}</code> removed."}},
		{"/bind remove nope", []string{`<b>Error</b> (not_found): no binding with id "nope"`}},
		{"/bind list", []string{"No bindings. Add one with /bind add &lt;credential&gt; " +
			"&lt;host&gt;."}},
		{"/bind add zz api.test", []string{`<b>Error</b> (invalid): no credential or pool ` +
			`called "zz"`}},
		{"/bind add a api.test port=x", []string{`<b>Error</b> (invalid): port "x" is not a ` +
			`number`}},
		{"/bind add a api.test colour=red", []string{`Unknown option "colour"; /bind add ` +
			`takes port=, header= and template=.` + "\nUsage: /bind add &lt;credential&gt; " +
			"&lt;host&gt; [port=N,M] [header=H] [template=T]"}},
		{"/pool remove p", []string{"Pool <b>p</b> removed."}},
		{"/pool remove p", []string{`<b>Error</b> (not_found): no pool called "p"`}},

		// Credentials.
		{"/cred list", []string{"<pre>NAME  TYPE    POOL  EXPIRES\n" +
			"a     oauth   -     -\nb     oauth   -     -\nc     oauth   -     -\n" +
			"s     static  -     -</pre>"}},
		{"/cred remove zz", []string{`<b>Error</b> (not_found): no credential called "zz"`}},
		{"/cred remove s", []string{"Credential <b>s</b> removed."}},
		{"/cred", []string{"Usage:\n/cred list\n/cred add &lt;name&gt;\n" +
			"/cred add &lt;name&gt; oauth &lt;token_url&gt;\n/cred remove &lt;name&gt;"}},
		{"/cred add", []string{"Usage: /cred add &lt;name&gt;\n" +
			"/cred add &lt;name&gt; oauth &lt;token_url&gt;"}},
		{"/cred add x sk-inline", []string{"A secret never goes in the command. I deleted " +
			"your message with the secret.\nUsage: /cred add &lt;name&gt;\n" +
			"/cred add &lt;name&gt; oauth &lt;token_url&gt;"}},
		{"/cred add \"a b\"", []string{`<b>Error</b> (invalid): name "a b" has a character ` +
			`outside A-Z a-z 0-9 . _ -`}},

		// Phantoms.
		{"/phantom zz", []string{`<b>Error</b> (not_found): no credential or pool called "zz"`}},
		{"/phantom", []string{"Usage: /phantom &lt;name&gt;"}},

		// Parsing.
		{"/pool", []string{"Usage:\n" + poolUsage}},
		{"/pool frob", []string{`Unknown subcommand "frob" of /pool. Usage:` + "\n" + poolUsage}},
		{"/pool status", []string{"Usage: /pool status &lt;name&gt;"}},
		{"/pool status a b", []string{"Usage: /pool status &lt;name&gt;"}},
		{"/POOL LIST", []string{noPools}},
		{`/pool create "q" “a,b”`, []string{"Pool <b>q</b> created with members a, b " +
			"(strategy failover). Bind it with /bind add q &lt;host&gt;."}},
		{`/pool status "q`, []string{"Could not read the command: a quote is not closed."}},
		{"/frob", []string{"Unknown command /frob. Send /help for the list of commands."}},
		{"hello", []string{"Send /help for the list of commands."}},
		{"/pool@other_bot list", nil},
		{"/pool@" + telegramtest.BotUsername + " list", []string{"<pre>NAME  STRATEGY  MEMBERS\n" +
			"q     failover  a,b</pre>"}},
	}

	bind := ""
	for _, st := range steps {
		say := strings.ReplaceAll(st.say, "{bind}", bind)
		got := h.say(say)
		if bind == "" {
			if bs := h.eng.Bindings(); len(bs) > 0 {
				bind = bs[0].ID
			}
		}
		for i := range got {
			got[i] = normalise(got[i])
		}
		var want []string
		for _, w := range st.want {
			want = append(want, strings.ReplaceAll(w, "{bind}", bind))
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Errorf("%s\n expected %q\n      saw %q", say, want, got)
		}
	}
}

func TestHelpListsEveryCommandByTopic(t *testing.T) {
	h := newHarness(t, operator)
	want := "<b>latchkey</b> commands. Put a value with spaces in quotes.\n" +
		"\n<b>Pools</b>\n" +
		"/pool create &lt;name&gt; &lt;a,b[,c]&gt; [strategy] — creates a pool of OAuth " +
		"credentials, in failover order\n" +
		"/pool list — lists pools\n" +
		"/pool status &lt;name&gt; — shows the active member and the health of each member\n" +
		"/pool rotate &lt;name&gt; — parks the active member for 5 minutes and moves to the " +
		"next\n" +
		"/pool reset &lt;name&gt; [member] — clears the cooldowns of every member, or of one\n" +
		"/pool remove &lt;name&gt; — removes a pool that no binding uses\n" +
		"\n<b>Credentials</b>\n" +
		"/cred list — lists credentials (never their secrets)\n" +
		"/cred add &lt;name&gt; — adds a static credential: send the secret as the next " +
		"message\n" +
		"/cred add &lt;name&gt; oauth &lt;token_url&gt; — adds an OAuth credential: send the " +
		"access, refresh and id tokens, one per line, as the next message\n" +
		"/cred remove &lt;name&gt; — removes a credential that no binding uses\n" +
		"\n<b>Bindings</b>\n" +
		"/bind add &lt;credential&gt; &lt;host&gt; [port=N,M] [header=H] [template=T] — " +
		"binds a credential or pool to a destination host\n" +
		"/bind list — lists bindings\n" +
		"/bind remove &lt;id&gt; — removes a binding\n" +
		"\n<b>Phantoms</b>\n" +
		"/phantom &lt;name&gt; — shows what to give the agent in place of a credential or " +
		"pool\n" +
		"\n<b>Overview</b>\n" +
		"/status — pools with their active member, injections and failovers since start\n" +
		"/help — this list"
	if got := h.reply("/help"); got != want {
		t.Errorf("/help:\n expected %q\n      saw %q", want, got)
	}
}

func TestCommandMenuIsSetAtStart(t *testing.T) {
	h := newHarness(t, operator)
	menus := h.tg.Menus()
	want := []telegramtest.Command{
		{Command: "pool", Description: "Pools: create, list, status, rotate, reset, remove"},
		{Command: "cred", Description: "Credentials: list, add, remove"},
		{Command: "bind", Description: "Bindings: add, list, remove"},
		{Command: "phantom", Description: "What to give an agent for a credential or pool"},
		{Command: "status", Description: "Pools, active members, injections and failovers"},
		{Command: "help", Description: "Every command"},
	}
	if len(menus) != 1 {
		t.Fatalf("setMyCommands calls: expected 1, saw %d", len(menus))
	}
	if len(menus[0]) != len(want) {
		t.Fatalf("command menu: expected %v, saw %v", want, menus[0])
	}
	for i := range want {
		if menus[0][i] != want[i] {
			t.Errorf("command menu entry %d: expected %+v, saw %+v", i, want[i], menus[0][i])
		}
	}
	// Every menu command is answered, so the menu never offers a dead end.
	for _, m := range want {
		if got := h.reply("/" + m.Command); strings.HasPrefix(got, "Unknown command") {
			t.Errorf("/%s from the menu: expected an answer, saw %q", m.Command, got)
		}
	}
}

func TestBindAddTakesPortsHeaderAndTemplate(t *testing.T) {
	h := newHarness(t, operator)
	got := h.reply(`/bind add s api.test port=443,8443 header=X-Key template="Key {value}"`)
	bs := h.eng.Bindings()
	if len(bs) != 1 {
		t.Fatalf("bindings after /bind add: expected 1, saw %+v", bs)
	}
	b := bs[0]
	want := "Binding <code>" + b.ID + "</code> added: <b>s</b> on <b>api.test</b>, ports " +
		"443,8443, header X-Key."
	if got != want {
		t.Errorf("reply: expected %q, saw %q", want, got)
	}
	if b.Header != "X-Key" || b.Template != "Key {value}" || len(b.Ports) != 2 {
		t.Errorf("binding: expected X-Key, \"Key {value}\", ports 443 and 8443; saw %+v", b)
	}
}

func TestPhantomShowsWhatTheEngineGives(t *testing.T) {
	h := newHarness(t, operator)
	h.reply("/pool create p a,b")
	for _, name := range []string{"s", "p"} {
		p, err := h.eng.Phantom(name)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if name == "s" {
			want = "Phantom of <b>s</b> (static), for the agent in place of the secret:\n" +
				"<code>" + p.Phantom + "</code>"
		} else {
			want = "Phantoms of <b>p</b> (pool), for the agent's auth file:\n" +
				"access token:\n<code>" + p.AccessToken + "</code>\n" +
				"refresh token:\n<code>" + p.RefreshToken + "</code>"
		}
		if got := h.reply("/phantom " + name); got != want {
			t.Errorf("/phantom %s:\n expected %q\n      saw %q", name, want, got)
		}
	}
}
