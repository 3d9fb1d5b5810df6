package session

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A key file of the wrong length (a failed write, a truncation) is an
// error, never an HMAC key: tokens derived from it would be guessable.
func TestDamagedKeyIsRefused(t *testing.T) {
	for _, content := range []string{"", "short", strings.Repeat("x", 33)} {
		s, err := OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(s.Dir, "key"), []byte(content), 0o600)
		if tok, err := s.Token("s0123456789ab"); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("a %d-byte key gave token %q, err %v; want an error", len(content), tok, err)
		}
	}
}

// Concurrent first uses agree on one key, and no partial key file is seen.
func TestKeyCreationIsAtomic(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	tokens := make([]string, 32)
	errs := make([]error, 32)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tokens[i], errs[i] = (&Store{Dir: s.Dir}).Token("s0123456789ab")
		}()
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("caller %d: token %q err %v; want all equal to %q", i, tokens[i], errs[i], tokens[0])
		}
	}
	fi, err := os.Stat(filepath.Join(s.Dir, "key"))
	if err != nil || fi.Size() != keySize || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, ".key.*")); len(left) != 0 {
		t.Fatalf("temporary key files left: %v", left)
	}
}
