package fakemodal_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// The fake answers as Modal does, checked with modal-go itself: what
// Modal's clients and service refuse, the fake refuses with the same code.

func client(t *testing.T) (*modalsdk.Client, *fakemodal.Server, context.Context) {
	t.Helper()
	fake := fakemodal.Start(t)
	mc, err := modalsdk.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return mc, fake, ctx
}

func codeOf(err error) codes.Code {
	var nf modalsdk.NotFoundError
	var ae modalsdk.AlreadyExistsError
	switch {
	case errors.As(err, &nf):
		return codes.NotFound
	case errors.As(err, &ae):
		return codes.AlreadyExists
	}
	return status.Code(err)
}

func TestFakeRefusesWhatModalRefuses(t *testing.T) {
	mc, _, ctx := client(t)
	app, err := mc.Apps.FromName(ctx, "sena", &modalsdk.AppFromNameParams{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	image := mc.Images.FromRegistry("python:3.12-slim", nil)
	vol, err := mc.Volumes.FromName(ctx, "vol", &modalsdk.VolumeFromNameParams{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	create := func(p modalsdk.SandboxCreateParams) error {
		_, err := mc.Sandboxes.Create(ctx, app, image, &p)
		return err
	}
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"app name with a space", func() error {
			_, err := mc.Apps.FromName(ctx, "my app", &modalsdk.AppFromNameParams{CreateIfMissing: true})
			return err
		}, codes.InvalidArgument},
		{"volume name over 64", func() error {
			_, err := mc.Volumes.FromName(ctx, strings.Repeat("v", 65), &modalsdk.VolumeFromNameParams{CreateIfMissing: true})
			return err
		}, codes.InvalidArgument},
		{"secret key not a variable name", func() error {
			_, err := mc.Secrets.FromMap(ctx, map[string]string{"1-BAD": "x"}, nil)
			return err
		}, codes.InvalidArgument},
		{"sandbox name with a slash", func() error { return create(modalsdk.SandboxCreateParams{Name: "a/b"}) }, codes.InvalidArgument},
		{"command over ARG_MAX", func() error {
			return create(modalsdk.SandboxCreateParams{Command: []string{"echo", strings.Repeat("x", 1<<16)}})
		}, codes.InvalidArgument},
		{"unknown GPU", func() error { return create(modalsdk.SandboxCreateParams{GPU: "K80"}) }, codes.InvalidArgument},
		{"five A10", func() error { return create(modalsdk.SandboxCreateParams{GPU: "A10:5"}) }, codes.InvalidArgument},
		{"timeout over 24h", func() error { return create(modalsdk.SandboxCreateParams{Timeout: 25 * time.Hour}) }, codes.InvalidArgument},
		{"volume at /tmp", func() error {
			return create(modalsdk.SandboxCreateParams{Volumes: map[string]*modalsdk.Volume{"/tmp": vol}})
		}, codes.InvalidArgument},
		{"volume at a path that is not canonical", func() error {
			return create(modalsdk.SandboxCreateParams{Volumes: map[string]*modalsdk.Volume{"/data/../models": vol}})
		}, codes.InvalidArgument},
		{"one volume twice", func() error {
			return create(modalsdk.SandboxCreateParams{Volumes: map[string]*modalsdk.Volume{"/a": vol, "/b": vol.ReadOnly()}})
		}, codes.InvalidArgument},
		{"secret that does not exist", func() error {
			return create(modalsdk.SandboxCreateParams{Secrets: []*modalsdk.Secret{{SecretID: "st-nope"}}})
		}, codes.NotFound},
		{"volume that does not exist", func() error {
			return create(modalsdk.SandboxCreateParams{Volumes: map[string]*modalsdk.Volume{"/m": {VolumeID: "vo-nope"}}})
		}, codes.NotFound},
		{"named secret that does not exist", func() error {
			_, err := mc.Secrets.FromName(ctx, "HF_TOKEN", nil)
			return err
		}, codes.NotFound},
		{"limits equal to the requests", func() error {
			return create(modalsdk.SandboxCreateParams{MemoryMiB: 1024, MemoryLimitMiB: 1024, CPU: 2, CPULimit: 2})
		}, codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := codeOf(tc.call()); got != tc.want {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		})
	}

	sb, err := mc.Sandboxes.Create(ctx, app, image, &modalsdk.SandboxCreateParams{Name: "taken", EncryptedPorts: []int{8888}})
	if err != nil {
		t.Fatal(err)
	}
	if err := create(modalsdk.SandboxCreateParams{Name: "taken"}); codeOf(err) != codes.AlreadyExists {
		t.Errorf("a second running sandbox named taken: %v, want AlreadyExists", err)
	}
	for _, tags := range []map[string]string{{"team": "a b"}, {strings.Repeat("k", 64): "v"}, {"k": ""}} {
		if err := sb.SetTags(ctx, tags); codeOf(err) != codes.InvalidArgument {
			t.Errorf("SetTags(%v): %v, want InvalidArgument", tags, err)
		}
	}
	if _, err := mc.Sandboxes.FromName(ctx, "sena", "nobody", nil); codeOf(err) != codes.NotFound {
		t.Errorf("FromName of a missing sandbox: %v, want NotFound", err)
	}
}

func TestFakeEnvironmentsMustExist(t *testing.T) {
	mc, fake, ctx := client(t)
	_, err := mc.Apps.FromName(ctx, "sena", &modalsdk.AppFromNameParams{CreateIfMissing: true, Environment: "nope"})
	if codeOf(err) != codes.NotFound {
		t.Errorf("an app in a missing environment: %v, want NotFound", err)
	}
	fake.AddEnvironment("nope")
	if _, err := mc.Apps.FromName(ctx, "sena", &modalsdk.AppFromNameParams{CreateIfMissing: true, Environment: "nope"}); err != nil {
		t.Errorf("an app in an environment that exists: %v", err)
	}
}

func TestFakeEnforcesTheTimeout(t *testing.T) {
	mc, _, ctx := client(t)
	app, _ := mc.Apps.FromName(ctx, "sena", &modalsdk.AppFromNameParams{CreateIfMissing: true})
	sb, err := mc.Sandboxes.Create(ctx, app, mc.Images.FromRegistry("python:3.12-slim", nil), &modalsdk.SandboxCreateParams{
		Timeout: time.Second, EncryptedPorts: []int{8888},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, err := sb.Wait(ctx)
	if err != nil || code != 124 {
		t.Fatalf("Wait = %d, %v; want 124 (timeout)", code, err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("the 1 s timeout ended the sandbox after %s", d)
	}
}

func TestFakeFilesystemAndLogs(t *testing.T) {
	mc, fake, ctx := client(t)
	fake.OnBatch(func(b *fakemodal.Batch) (int, string) {
		data, err := b.WaitFile("/tmp/in.txt", 10*time.Second)
		if err != nil {
			return 1, err.Error()
		}
		return 7, "read: " + string(data) + "\n"
	})
	app, _ := mc.Apps.FromName(ctx, "sena", &modalsdk.AppFromNameParams{CreateIfMissing: true})
	sb, err := mc.Sandboxes.Create(ctx, app, mc.Images.FromRegistry("python:3.12-slim", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Open(ctx, "/no/such/dir/x", "wb"); err == nil {
		t.Error("opening a file in a missing directory succeeded")
	}
	f, err := sb.Open(ctx, "/tmp/in.txt", "wb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, err := sb.Wait(ctx)
	if err != nil || code != 7 {
		t.Fatalf("Wait = %d, %v; want 7", code, err)
	}
	stderr, err := io.ReadAll(sb.Stderr)
	if err != nil || string(stderr) != "read: hello\n" {
		t.Errorf("stderr = %q, %v; want what the sandbox wrote", stderr, err)
	}
	if _, err := sb.Open(ctx, "/tmp/late.txt", "wb"); err == nil {
		t.Error("opening a file in a finished sandbox succeeded")
	}
	late, _ := mc.Sandboxes.FromID(ctx, sb.SandboxID)
	if _, err := late.Open(ctx, "/tmp/late.txt", "wb"); err == nil || !strings.Contains(err.Error(), "completed") {
		t.Errorf("opening a file in a finished sandbox found again: %v, want modal-go's error saying it completed", err)
	}
}

// A build that streams logs and fails answers as Modal's builder does.
func TestFakeImageBuildFails(t *testing.T) {
	mc, fake, ctx := client(t)
	fake.SetImageBuild([]string{"Step 1"}, "boom")
	app, _ := mc.Apps.FromName(ctx, "sena", &modalsdk.AppFromNameParams{CreateIfMissing: true})
	_, err := mc.Images.FromRegistry("python:3.12-slim", nil).Build(ctx, app)
	var remote modalsdk.RemoteError
	if !errors.As(err, &remote) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failing build: %v, want modal-go's RemoteError with the exception", err)
	}
}
