package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
)

func TestResolveAndOnlySession(t *testing.T) {
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(Params{Store: store})
	if _, err := m.OnlySession(); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OnlySession with none = %v, want ErrNotFound", err)
	}
	for _, r := range []*Record{
		{ID: "sab1234567890", State: StateReady, CreatedAt: time.Now()},
		{ID: "sab9999999999", State: StateStarting, CreatedAt: time.Now()},
		{ID: "sff0000000000", State: StateReady, CreatedAt: time.Now()},
	} {
		if err := store.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"sab1234567890", "sab1234567890", nil},
		{"sab1", "sab1234567890", nil},
		{"sf", "sff0000000000", nil},
		{"sab", "", core.ErrInvalidConfig}, // two match
		{"s", "", core.ErrInvalidConfig},
		{"sx", "", core.ErrNotFound},
		{"", "", core.ErrNotFound},
		{"../key", "", core.ErrNotFound},
	} {
		got, err := m.Resolve(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		if errors.Is(tc.err, core.ErrInvalidConfig) && !strings.Contains(err.Error(), "sab1234567890, sab9999999999") {
			t.Errorf("Resolve(%q): %v, want the matches listed", tc.in, err)
		}
	}
	if _, err := m.OnlySession(); !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "2 sessions are running") {
		t.Errorf("OnlySession with two ready = %v", err)
	}
	store.Delete("sff0000000000")
	if id, err := m.OnlySession(); id != "sab1234567890" || err != nil {
		t.Errorf("OnlySession = %q, %v; want the one ready session (the other is starting)", id, err)
	}
}
