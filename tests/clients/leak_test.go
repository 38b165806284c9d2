//go:build clients

package clients

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// maxScannedFile bounds the file size a leak scan reads.
const maxScannedFile = 512 << 20

// jwtShape finds JWT-shaped strings, whose payloads a scan decodes too: a
// real account id inside a phantom id token is a leak even though it is
// base64-encoded there.
var jwtShape = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.([A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]{8,}`)

// assertNoSecrets fails t when any of secrets appears in what the client
// printed or in any file under dirs (the client's home), raw or inside a
// JWT payload.
func assertNoSecrets(t *testing.T, secrets []string, runs []clientRun, dirs ...string) {
	t.Helper()
	findings, files, err := findSecrets(secrets, runs, dirs...)
	if err != nil {
		t.Errorf("leak scan: %v", err)
	}
	for _, f := range findings {
		t.Error(f)
	}
	if files == 0 {
		t.Errorf("leak scan found no files under %v: the client wrote nothing?", dirs)
	}
}

// findSecrets lists where secrets appear in runs' output and under dirs,
// and counts the files it read.
func findSecrets(secrets []string, runs []clientRun, dirs ...string) ([]string, int, error) {
	var findings []string
	scan := func(where string, data []byte) {
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				findings = append(findings, fmt.Sprintf("real secret %.24s… appears in %s", s,
					where))
			}
		}
		for _, m := range jwtShape.FindAllSubmatch(data, -1) {
			payload, err := base64.RawURLEncoding.DecodeString(string(m[1]))
			if err != nil {
				continue
			}
			for _, s := range secrets {
				if s != "" && bytes.Contains(payload, []byte(s)) {
					findings = append(findings, fmt.Sprintf("real secret %.24s… appears in "+
						"a JWT payload in %s", s, where))
				}
			}
		}
	}
	for i, r := range runs {
		scan("stdout of run "+strconv.Itoa(i+1), []byte(r.stdout))
		scan("stderr of run "+strconv.Itoa(i+1), []byte(r.stderr))
	}
	files := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil || info.Size() > maxScannedFile {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			scan(path, data)
			return nil
		})
		if err != nil {
			return findings, files, err
		}
	}
	return findings, files, nil
}

// TestLeakScanFindsSecrets checks the scanner itself: a secret written in
// plain text, one hidden in a JWT payload and one on stderr are all found,
// and a clean file gives nothing.
func TestLeakScanFindsSecrets(t *testing.T) {
	dir := t.TempDir()
	plain, hidden, printed := "REAL-"+randomHex(8), "acct-"+randomHex(8), "REAL-"+randomHex(8)
	jwt := "eyJhbGciOiJub25lIn0." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"account":"`+hidden+`"}`)) + ".c2lnbmF0dXJl"
	writeFile(t, filepath.Join(dir, "plain.json"), `{"token":"`+plain+`"}`)
	mkdir(t, filepath.Join(dir, "sub"))
	writeFile(t, filepath.Join(dir, "sub", "auth.json"), `{"id_token":"`+jwt+`"}`)
	writeFile(t, filepath.Join(dir, "clean.txt"), "nothing here")
	runs := []clientRun{{stderr: "token " + printed}}

	findings, files, err := findSecrets([]string{plain, hidden, printed}, runs, dir)
	if err != nil || files != 3 || len(findings) != 3 {
		t.Fatalf("expected 3 findings in 3 files, saw %d in %d (%v): %v", len(findings), files,
			err, findings)
	}
	if f, _, _ := findSecrets([]string{"REAL-" + randomHex(8)}, runs, dir); len(f) != 0 {
		t.Errorf("a secret that is nowhere was found: %v", f)
	}
}
