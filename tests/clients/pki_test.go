//go:build clients

package clients

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"time"

	"github.com/latchkeyproxy/latchkey/internal/testkit"
)

// The hosts the fake upstream answers for. latchkey dials each of them at
// the fake, and checks the fake's certificate against the test CA.
const (
	hostChatGPT    = "chatgpt.com"
	hostOpenAIAuth = "auth.openai.com"
	hostAnthropic  = "api.anthropic.com"
	hostClaudeAuth = "platform.claude.com"
)

var fakeHosts = []string{hostChatGPT, hostOpenAIAuth, hostAnthropic, hostClaudeAuth}

// testCA is a throwaway CA with one leaf certificate for every fake host.
type testCA struct {
	// pemFile is the CA certificate, for latchkey's upstream_root_ca and
	// for a client that talks to the fake without latchkey.
	pemFile string

	// leaf is the fake upstream's certificate.
	leaf tls.Certificate
}

// newTestCA makes the CA in dir.
func newTestCA(dir string) (*testCA, error) {
	ca, err := testkit.NewCA("latchkey client tests CA", fakeHosts, 48*time.Hour)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "fake-upstream-ca.pem")
	if err := os.WriteFile(file, ca.PEM, 0o644); err != nil {
		return nil, err
	}
	return &testCA{pemFile: file, leaf: ca.Leaf}, nil
}
