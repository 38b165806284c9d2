package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/latchkeyproxy/latchkey/store"
)

// createKeyFileIfMissing writes a new random database key to path unless
// the file exists. O_EXCL keeps two starting processes from writing
// different keys.
func createKeyFileIfMissing(path string) error {
	key := make([]byte, store.EncryptionKeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	err := writeNewSecretFile(path, hex.EncodeToString(key)+"\n")
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// readKeyFile reads a database key written as hexadecimal.
func readKeyFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading encryption key: %v", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != store.EncryptionKeySize {
		return nil, fmt.Errorf("encryption key file %s must hold %d hexadecimal characters",
			path, 2*store.EncryptionKeySize)
	}
	return key, nil
}

// loadOrCreateToken reads the admin API token, creating a random one with
// mode 0600 on first start.
func loadOrCreateToken(path string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	err := writeNewSecretFile(path, hex.EncodeToString(b)+"\n")
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading API token: %v", err)
	}
	token := strings.TrimSpace(string(raw))
	if len(token) < 16 {
		return "", fmt.Errorf("API token file %s holds fewer than 16 characters", path)
	}
	return token, nil
}

// writeNewSecretFile creates path with mode 0600 and writes content, or
// returns an error matching fs.ErrExist if the file is already there.
func writeNewSecretFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("creating %s: %v", path, err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %v", path, err)
	}
	return f.Close()
}
