package telegram

import (
	"fmt"
	"strings"
	"testing"
)

func TestShortRepliesAreNotSplit(t *testing.T) {
	in := "Pool <b>p</b>:\n<pre>* a  healthy</pre>"
	if got := splitMessage(in, maxMessage); len(got) != 1 || got[0] != in {
		t.Errorf("splitMessage changed a short reply: %q", got)
	}
}

func TestLongRepliesSplitAtLineBreaksAndKeepTagsBalanced(t *testing.T) {
	var rows [][]string
	for i := range 300 {
		rows = append(rows, []string{fmt.Sprintf("bnd_%012d", i), "cred&<b>", "api.test"})
	}
	in := "Bindings:\n" + pre(table([]string{"ID", "CREDENTIAL", "DESTINATION"}, rows))
	parts := splitMessage(in, maxMessage)
	if len(parts) < 2 {
		t.Fatalf("a reply of %d characters: expected several parts, saw %d", visibleLen(in),
			len(parts))
	}

	var joined []string
	for i, p := range parts {
		if n := visibleLen(p); n > maxMessage {
			t.Errorf("part %d: %d visible characters, over the limit of %d", i, n, maxMessage)
		}
		if strings.Count(p, "<pre>") != strings.Count(p, "</pre>") {
			t.Errorf("part %d: <pre> not balanced: %q…", i, p[:80])
		}
		if strings.Contains(p, "&lt;b") && strings.Contains(p, "<b>") {
			t.Errorf("part %d: an escaped value became markup", i)
		}
		body := strings.TrimSuffix(strings.TrimPrefix(p, "<pre>"), "</pre>")
		joined = append(joined, body)
	}
	// Nothing is lost or duplicated: the parts hold every line once.
	want := strings.TrimSuffix(in, "</pre>")
	if got := strings.Join(joined, "\n"); got != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("the parts do not add up to the reply; first difference at %d: %q vs %q",
			i, got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
	}
}

func TestAnOverlongLineIsCutWithAMarker(t *testing.T) {
	in := "<code>" + strings.Repeat("x&amp;", 3000) + "</code>"
	parts := splitMessage(in, maxMessage)
	if len(parts) != 2 {
		t.Fatalf("parts: expected 2, saw %d", len(parts))
	}
	if !strings.HasSuffix(parts[0], cutMarker+"</code>") ||
		!strings.HasPrefix(parts[1], "<code>") {
		t.Errorf("cut: expected the marker and a closed tag, then the tag reopened; saw %q … %q",
			parts[0][len(parts[0])-20:], parts[1][:20])
	}
	for i, p := range parts {
		if visibleLen(p) > maxMessage {
			t.Errorf("part %d over the limit", i)
		}
		if strings.Contains(p, "&amp"+cutMarker) {
			t.Errorf("part %d cuts an entity in half", i)
		}
	}
}

func TestHugeRepliesStopAfterMaxParts(t *testing.T) {
	in := strings.Repeat(strings.Repeat("y", 100)+"\n", 2000)
	parts := splitMessage(in, maxMessage)
	if len(parts) != maxParts || !strings.HasSuffix(parts[maxParts-1], cutMarker) {
		t.Errorf("parts: expected %d, the last ending in %q; saw %d", maxParts, cutMarker,
			len(parts))
	}
}

func TestVisibleLengthCountsUTF16(t *testing.T) {
	if n := visibleLen("<b>a&amp;😀</b>"); n != 4 {
		t.Errorf("visibleLen: expected 4 (a, &, and a surrogate pair), saw %d", n)
	}
}
