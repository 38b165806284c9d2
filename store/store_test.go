package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string, key []byte) *DB {
	t.Helper()
	db, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestDataSurvivesReopenAndIsEncryptedOnDisk(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, EncryptionKeySize)
	secret := "sk-real-secret-value-0123456789abcdef"

	db := openTest(t, dir, key)
	err := db.Update(func(tx *Txn) error {
		return tx.PutCredential(Credential{Name: "openai", Type: TypeStatic, Value: secret,
			CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// No file of the database may hold the secret in the clear.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("openai")) {
			t.Errorf("%s holds the secret or its name in the clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	db = openTest(t, dir, key)
	defer db.Close()
	var got Credential
	if err := db.View(func(tx *Txn) (err error) { got, err = tx.GetCredential("openai"); return }); err != nil {
		t.Fatal(err)
	}
	if got.Value != secret {
		t.Errorf("after reopen the value is %q, want %q", got.Value, secret)
	}
}

func TestOpenWithWrongKeyFails(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, bytes.Repeat([]byte{1}, EncryptionKeySize))
	db.Update(func(tx *Txn) error { return tx.PutMeta("x", []byte("y")) })
	db.Close()

	if db, err := Open(Options{Dir: dir, EncryptionKey: bytes.Repeat([]byte{2}, 32)}); err == nil {
		db.Close()
		t.Fatal("the database opened with another key")
	}
}

func TestFailedUpdateWritesNothing(t *testing.T) {
	db := openTest(t, t.TempDir(), bytes.Repeat([]byte{3}, EncryptionKeySize))
	defer db.Close()

	boom := errors.New("boom")
	err := db.Update(func(tx *Txn) error {
		if err := tx.PutBinding(Binding{ID: "b1", Credential: "c"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
	db.View(func(tx *Txn) error {
		if _, err := tx.GetBinding("b1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a binding of a failed transaction is stored (err %v)", err)
		}
		return nil
	})
}

func TestListsAreOrderedAndDeleteReportsMissing(t *testing.T) {
	db := openTest(t, t.TempDir(), bytes.Repeat([]byte{4}, EncryptionKeySize))
	defer db.Close()

	db.Update(func(tx *Txn) error {
		for _, n := range []string{"c", "a", "b"} {
			if err := tx.PutCredential(Credential{Name: n, Type: TypeStatic}); err != nil {
				return err
			}
		}
		return nil
	})
	db.View(func(tx *Txn) error {
		all, err := tx.Credentials()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range all {
			names = append(names, c.Name)
		}
		if len(names) != 3 || names[0] != "a" || names[2] != "c" {
			t.Errorf("credentials listed as %v, want [a b c]", names)
		}
		return nil
	})
	err := db.Update(func(tx *Txn) error { return tx.DeleteCredential("zzz") })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing credential returned %v, want ErrNotFound", err)
	}
}
