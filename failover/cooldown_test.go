package failover

import (
	"math"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"delta seconds", "120", 2 * time.Minute, true},
		{"delta seconds with spaces", " 7 ", 7 * time.Second, true},
		{"fractional seconds are tolerated", "1.5", 1500 * time.Millisecond, true},
		{"zero is stale", "0", 0, false},
		{"negative is refused", "-3", 0, false},
		{"HTTP-date in the future", httpDate(time.Hour), time.Hour, true},
		{"HTTP-date in the past is stale", httpDate(-time.Hour), 0, false},
		{"RFC 850 date", testNow.Add(time.Minute).Format(time.RFC850), time.Minute, true},
		{"garbage", "tomorrow", 0, false},
		{"huge delta saturates", "1e300", math.MaxInt64, true},
		{"NaN is refused", "NaN", 0, false},
		{"infinity is refused", "+Inf", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retryAfter(hdr("Retry-After", tt.value), testNow)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Fatalf("retryAfter(%q) = %v, %v; want %v, %v",
					tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRetryAfterNilHeader(t *testing.T) {
	if _, ok := retryAfter(nil, testNow); ok {
		t.Fatal("retryAfter(nil) found a value")
	}
}

func TestResetsIn(t *testing.T) {
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3600", time.Hour, true},
		{"0.25", 250 * time.Millisecond, true},
		{"3.6e3", time.Hour, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := resetsIn(tt.value)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("resetsIn(%q) = %v, %v; want %v, %v",
				tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestResetsAt(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"future epoch seconds", epoch(10 * time.Minute), 10 * time.Minute, true},
		{"fractional epoch seconds", epoch(0) + ".5", 500 * time.Millisecond, true},
		{"now is stale", epoch(0), 0, false},
		{"past is stale", epoch(-time.Minute), 0, false},
		{"absurdly far future stays positive", "1e300", time.Unix(1<<40, 0).Sub(testNow), true},
		{"garbage", "later", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := resetsAt(tt.value, testNow)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Fatalf("resetsAt(%q) = %v, %v; want %v, %v",
					tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestUnifiedReset(t *testing.T) {
	const name = "anthropic-ratelimit-unified-reset"
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"epoch seconds", epoch(5 * time.Hour), 5 * time.Hour, true},
		{"RFC 3339", testNow.Add(time.Hour).Format(time.RFC3339), time.Hour, true},
		{"past is stale", epoch(-time.Hour), 0, false},
		{"garbage", "five_hour", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := unifiedReset(hdr(name, tt.value), testNow)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Fatalf("unifiedReset(%q) = %v, %v; want %v, %v",
					tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3.5s", 3500 * time.Millisecond, true},
		{"30s", 30 * time.Second, true},
		{"0.000000001s", time.Nanosecond, true},
		{"0s", 0, false},
		{"-1s", 0, false},
		{"3.5", 0, false},
		{"1m", 0, false},
		{"s", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryDelay(tt.value)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("retryDelay(%q) = %v, %v; want %v, %v",
				tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCapCooldown(t *testing.T) {
	tests := []struct {
		name     string
		d, limit time.Duration
		want     time.Duration
	}{
		{"no cap keeps the value", time.Hour, 0, time.Hour},
		{"negative cap means no cap", time.Hour, -time.Second, time.Hour},
		{"cap shortens a longer value", time.Hour, time.Minute, time.Minute},
		{"cap keeps a shorter value", time.Second, time.Minute, time.Second},
		{"negative is never returned", -time.Second, 0, 0},
	}
	for _, tt := range tests {
		if got := capCooldown(tt.d, tt.limit); got != tt.want {
			t.Errorf("%s: capCooldown(%v, %v) = %v, want %v", tt.name, tt.d, tt.limit, got, tt.want)
		}
	}
}
