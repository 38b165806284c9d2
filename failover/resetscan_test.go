package failover

import "testing"

func TestMayHoldResetFields(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{codexUsageLimit, true},
		{google(429), true},
		{`{"resets_at":1}`, true},
		{anthropicRateLimit, false},
		{openAIQuota, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := mayHoldResetFields([]byte(tt.body)); got != tt.want {
			t.Errorf("mayHoldResetFields(%.40q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestScanResetFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		want resetFields
	}{
		{"empty body", "", resetFields{}},
		{"not JSON", "Too Many Requests", resetFields{}},
		{"JSON scalar", `"resets_at"`, resetFields{}},
		{
			"Codex body nested under error",
			codexUsageLimit,
			resetFields{resetsIn: "3600", resetsAt: "1796290000"},
		},
		{
			"Google retryDelay inside details",
			google(429),
			resetFields{retryDelay: "3.5s"},
		},
		{
			"first occurrence in document order wins",
			`{"a":{"resets_at":1},"resets_at":2,"b":[{"resets_at":3}]}`,
			resetFields{resetsAt: "1"},
		},
		{
			"a key name used as a value is not a key",
			`{"a":"resets_at","b":5,"c":["resets_in_seconds",7]}`,
			resetFields{},
		},
		{
			"keys after a nested container are still seen",
			`{"x":{"y":[1,{"z":null}]},"resets_in_seconds":"9"}`,
			resetFields{resetsIn: "9"},
		},
		{
			"null and booleans are not values",
			`{"resets_at":null,"resets_in_seconds":true,"resets_at":5}`,
			resetFields{resetsAt: "5"},
		},
		{
			"array at the top level is searched",
			`[{"resets_in_seconds":4}]`,
			resetFields{resetsIn: "4"},
		},
		{
			"a truncated body keeps the fields before the cut",
			`{"error":{"resets_in_seconds":60,"message":"usage lim`,
			resetFields{resetsIn: "60"},
		},
		{
			"leading whitespace is skipped",
			"\r\n {\"resets_at\":\"77\"}",
			resetFields{resetsAt: "77"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanResetFields([]byte(tt.body)); got != tt.want {
				t.Fatalf("scanResetFields = %+v, want %+v", got, tt.want)
			}
		})
	}
}
