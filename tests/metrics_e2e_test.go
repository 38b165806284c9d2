package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsShowAScriptedFailover fails a pool over and reads Caddy's
// metrics endpoint: the failover, the retry, the injections, the members'
// gauges and the certificate counters must be there with their values.
func TestMetricsShowAScriptedFailover(t *testing.T) {
	w := newPoolWorld(t, 2)
	a, b := w.members[0], w.members[1]
	w.prov.scriptAPI(a, usageLimit429())

	if resp, _, _ := w.callAPI(t, w.client); resp.status != http.StatusOK {
		t.Fatalf("status: expected 200 after the failover, saw %d", resp.status)
	}
	if resp, _, _ := w.callAPI(t, w.client); resp.status != http.StatusOK {
		t.Fatalf("status: expected 200 from the second member, saw %d", resp.status)
	}

	status, raw, err := w.inst.api(http.MethodGet, "/metrics", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, err %v", status, err)
	}
	metrics := string(raw)
	want := []string{
		fmt.Sprintf(`latchkey_events_total{event="failovers",identity=%q,label="429"} 1`, w.pool),
		fmt.Sprintf(`latchkey_events_total{event="retries",identity=%q,label=""} 1`, w.pool),
		// The first request was injected twice (as a, then as b), the
		// second once.
		fmt.Sprintf(`latchkey_events_total{event="injections",identity=%q,label=""} 3`, w.pool),
		fmt.Sprintf(`latchkey_member_active{member=%q,pool=%q} 1`, b, w.pool),
		fmt.Sprintf(`latchkey_member_active{member=%q,pool=%q} 0`, a, w.pool),
		`latchkey_certificates_total{result="minted"} 1`,
	}
	for _, line := range want {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s\nlatchkey metrics seen:\n%s", line, latchkeyLines(metrics))
		}
	}
	cooling := fmt.Sprintf(`latchkey_member_cooldown_seconds{member=%q,pool=%q} `, a, w.pool)
	if !strings.Contains(metrics, cooling) || strings.Contains(metrics, cooling+"0\n") {
		t.Errorf("metrics do not show %s cooling down\n%s", a, latchkeyLines(metrics))
	}
}

// latchkeyLines keeps the latchkey_ samples of a metrics page.
func latchkeyLines(metrics string) string {
	var out []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "latchkey_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
