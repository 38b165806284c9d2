package failover

import "testing"

func TestSaysQuota(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"error":{"type":"insufficient_quota"}}`, true},
		{`{"error":{"code":"QUOTA_EXCEEDED"}}`, true},
		{`{"error":{"type":"usage_limit_reached"}}`, true},
		{`{"reason":"RATE_LIMIT_EXCEEDED"}`, true},
		{`{"reason":"QUOTA_EXHAUSTED"}`, true},
		{`{"status":"RESOURCE_EXHAUSTED"}`, true},
		{`Daily Quota Exhausted for this project`, true},
		{`You have Exhausted Your Capacity on this model.`, true},
		{`{"error":{"type":"permission_error"}}`, false},
		{`{"status":"PERMISSION_DENIED"}`, false},
		{`quota`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := saysQuota([]byte(tt.body)); got != tt.want {
			t.Errorf("saysQuota(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestGrantErrorTag(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"error":"invalid_grant"}`, "invalid_grant"},
		{`{"error":"INVALID_GRANT"}`, "invalid_grant"},
		{`{"error":{"code":"refresh_token_expired"}}`, "invalid_grant"},
		{`{"error":{"code":"refresh_token_reused"}}`, "invalid_grant"},
		{`{"error":{"code":"refresh_token_invalidated"}}`, "invalid_grant"},
		{`{"error":"invalid_token"}`, "invalid_token"},
		{`{"error":"invalid_grant","hint":"invalid_token"}`, "invalid_grant"},
		{`{"error":"invalid_client"}`, ""},
		{`{"error":"unsupported_grant_type"}`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := grantErrorTag([]byte(tt.body)); got != tt.want {
			t.Errorf("grantErrorTag(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestContainsFold(t *testing.T) {
	tests := []struct {
		s, needle string
		want      bool
	}{
		{"abc", "", true},
		{"", "a", false},
		{"ab", "abc", false},
		{"xxABCxx", "abc", true},
		{"xxABxCx", "abc", false},
		{"aaab", "aab", true},
		{"end ABC", "abc", true},
		{"ABC end", "abc", true},
		{"\xffABC", "abc", true},
	}
	for _, tt := range tests {
		if got := containsFold([]byte(tt.s), tt.needle); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", tt.s, tt.needle, got, tt.want)
		}
	}
}
