package modal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// writeModalToml points MODAL_CONFIG_PATH at a config with this content and
// clears the token variables, so the file is what counts.
func writeModalToml(t *testing.T, content string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "modal.toml")
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MODAL_CONFIG_PATH", cfg)
	t.Setenv("MODAL_TOKEN_ID", "")
	t.Setenv("MODAL_TOKEN_SECRET", "")
}

func profile(name string, ok, active bool) string {
	id, secret := "ak-wrong", "as-wrong"
	if ok {
		id, secret = fakemodal.TokenID, fakemodal.TokenSecret
	}
	s := "[" + name + "]\ntoken_id = \"" + id + "\"\ntoken_secret = \"" + secret + "\"\n"
	if active {
		s += "active = true\n"
	}
	return s + "\n"
}

// Issue 15 #11: several active profiles is an error naming them, not a
// pick of whichever the map iteration gives.
func TestSeveralActiveProfilesIsAnError(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	writeModalToml(t, profile("work", true, true)+profile("home", false, true)+profile("old", false, false))
	for range 3 {
		_, err := p.Create(testContext(t), minimalRequest("sena-two-active"))
		if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "home, work") || !strings.Contains(err.Error(), "MODAL_PROFILE") {
			t.Fatalf("Create with two active profiles = %v, want an error naming home and work", err)
		}
	}
	if m := fake.Methods(); len(m) > 0 {
		t.Errorf("calls made with an ambiguous config: %v", m)
	}
	// MODAL_PROFILE settles it, as for Modal's CLI.
	t.Setenv("MODAL_PROFILE", "work")
	if _, err := p.Create(testContext(t), minimalRequest("sena-profile")); err != nil {
		t.Errorf("Create with MODAL_PROFILE=work: %v", err)
	}
}

// Issue 15 #11: with no active profile, [default] is used, as by Modal's CLI.
func TestDefaultProfileWhenNoneIsActive(t *testing.T) {
	p, _, _ := newTestProvider(t)
	writeModalToml(t, profile("other", false, false)+profile("default", true, false))
	if _, err := p.Create(testContext(t), minimalRequest("sena-default")); err != nil {
		t.Fatalf("Create with only a [default] profile: %v", err)
	}
}

func TestUnknownModalProfileSaysWhichExist(t *testing.T) {
	p, _, _ := newTestProvider(t)
	writeModalToml(t, profile("work", true, true))
	t.Setenv("MODAL_PROFILE", "typo")
	_, err := p.Create(testContext(t), minimalRequest("sena-typo"))
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "typo") || !strings.Contains(err.Error(), "work") {
		t.Fatalf("Create with MODAL_PROFILE=typo = %v, want an error naming the profiles there are", err)
	}
}

// Issue 15 #11: a wrong MODAL_ENVIRONMENT is an error that says so (modal-go
// reports it as "App not found").
func TestWrongModalEnvironmentSaysSo(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	t.Setenv("MODAL_ENVIRONMENT", "staging")
	_, err := p.Create(testContext(t), minimalRequest("sena-env"))
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "environment staging") || !strings.Contains(err.Error(), "MODAL_ENVIRONMENT") {
		t.Fatalf("Create in a missing environment = %v, want an error naming it and MODAL_ENVIRONMENT", err)
	}
	// Once it exists it works, and requests name it.
	fake.AddEnvironment("staging")
	if _, err := p.Create(testContext(t), minimalRequest("sena-env2")); err != nil {
		t.Fatalf("Create in an environment that exists: %v", err)
	}
	apps := fakemodal.Requests[*pb.AppGetOrCreateRequest](fake, "AppGetOrCreate")
	if got := apps[len(apps)-1].GetEnvironmentName(); got != "staging" {
		t.Errorf("the app was opened in environment %q, want staging", got)
	}
}

// Issue 15 #11: setting up the client (its first auth request) ends with
// the caller's context, and a second caller waiting for it is not stuck.
func TestClientSetupIsCancellable(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.Delay("AuthTokenGet", time.Hour)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := p.Create(ctx, minimalRequest("sena-auth"))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Create while the auth request hangs = %v, want the context's deadline", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Create returned %s after its context ended", d)
			}
		})
	}
	wg.Wait()
	// Once the server answers, a new call sets the client up.
	fake.Delay("AuthTokenGet", 0)
	if _, err := p.Create(testContext(t), minimalRequest("sena-auth-ok")); err != nil {
		t.Errorf("Create after the auth server recovered: %v", err)
	}
}
