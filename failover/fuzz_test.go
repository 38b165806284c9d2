package failover

import (
	"net/http"
	"testing"
	"time"
)

func FuzzClassify(f *testing.F) {
	f.Add(429, "", "", []byte(nil), false, int64(0))
	f.Add(429, "1", "", []byte(codexUsageLimit), false, int64(time.Minute))
	f.Add(429, "Wed, 03 Dec 2026 09:01:00 GMT", "", []byte(nil), false, int64(0))
	f.Add(429, "", "1796290000", []byte(anthropicRateLimit), false, int64(time.Hour))
	f.Add(403, "", "", []byte(google(403)), false, int64(0))
	f.Add(403, "", "", []byte(openAIQuota), true, int64(-1))
	f.Add(400, "", "", []byte(`{"error":"invalid_grant"}`), true, int64(0))
	f.Add(401, "9e999", "-1", []byte(`{"resets_at":1e308}`), false, int64(1))
	f.Fuzz(func(t *testing.T, status int, retryAfter, unified string, body []byte,
		atToken bool, maxCooldown int64,
	) {
		r := Response{
			Status:     status,
			Header:     http.Header{},
			Body:       body,
			AtTokenURL: atToken,
		}
		r.Header.Set("Retry-After", retryAfter)
		r.Header.Set(unifiedResetHeader, unified)
		limit := time.Duration(maxCooldown)

		v := Classify(r, testNow, limit)
		switch v.Kind {
		case None:
			if v != (Verdict{}) {
				t.Fatalf("Kind None with a non-zero verdict %+v", v)
			}
			return
		case RateLimited, AuthFailure:
		default:
			t.Fatalf("unknown kind %d", v.Kind)
		}
		if v.Cooldown <= 0 {
			t.Fatalf("%v with cooldown %v, want positive", v.Kind, v.Cooldown)
		}
		if limit > 0 && v.Cooldown > limit {
			t.Fatalf("cooldown %v exceeds maxCooldown %v", v.Cooldown, limit)
		}
		if !v.Until.Equal(testNow.Add(v.Cooldown)) {
			t.Fatalf("Until %v is not now + %v", v.Until, v.Cooldown)
		}
		if TagText(v.Tag) == "" || TagText(v.Tag)[0] == 'u' {
			t.Fatalf("tag %q has no notice text", v.Tag)
		}
		if NeedsBody(status, atToken) {
			return
		}
		if bare := Classify(Response{Status: status, Header: r.Header, AtTokenURL: atToken},
			testNow, limit); bare != v {
			t.Fatalf("NeedsBody(%d, %v) is false but the body changed %+v to %+v",
				status, atToken, bare, v)
		}
	})
}

func BenchmarkClassify429(b *testing.B) {
	cases := []struct {
		name string
		resp Response
	}{
		{"retry-after", Response{Status: 429, Header: hdr("Retry-After", "1")}},
		{"codex-body", Response{Status: 429, Header: http.Header{}, Body: []byte(codexUsageLimit)}},
		{"google-body", Response{Status: 429, Header: http.Header{}, Body: []byte(google(429))}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := Classify(c.resp, testNow, time.Hour); v.Kind != RateLimited {
					b.Fatalf("kind %v", v.Kind)
				}
			}
		})
	}
}

func BenchmarkClassify403(b *testing.B) {
	body := []byte(google(403))
	b.ReportAllocs()
	for b.Loop() {
		Classify(Response{Status: 403, Body: body}, testNow, time.Hour)
	}
}
