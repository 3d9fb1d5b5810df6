package plugin_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/internal/fakeprovider"
	"github.com/sena-labs/sena/plugin/plugintest"
)

// checkScripted runs every RPC of a provider serving fakeprovider.Scripted
// and checks each answer field by field.
func checkScripted(t *testing.T, p core.Provider) {
	t.Helper()
	ctx := context.Background()

	info, err := p.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if want := fakeprovider.Info(); !reflect.DeepEqual(info, want) {
		t.Errorf("Info = %+v, want %+v", info, want)
	}

	req := fakeprovider.CreateRequest()
	var progress []core.Progress
	req.Progress = func(p core.Progress) { progress = append(progress, p) }
	resp, err := p.Create(ctx, req)
	if err != nil {
		t.Fatalf("Create: %v", err) // names the fields that did not survive
	}
	if want := fakeprovider.CreateResponse(); !reflect.DeepEqual(resp, want) {
		t.Errorf("Create = %+v, want %+v", resp, want)
	}
	if !slices.Equal(progress, fakeprovider.ProgressReports) {
		t.Errorf("progress = %+v, want %+v", progress, fakeprovider.ProgressReports)
	}

	ins, err := p.Inspect(ctx, &core.InspectRequest{Handle: resp.Handle})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if want := fakeprovider.InspectResponse(); !reflect.DeepEqual(ins, want) {
		t.Errorf("Inspect = %+v, want %+v", ins, want)
	}
	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: resp.Handle}); err != nil {
		t.Errorf("Destroy: %v", err)
	}
	list, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelManaged: "true"}})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := fakeprovider.ListResponse(); !reflect.DeepEqual(list, want) {
		t.Errorf("List = %+v, want %+v", list, want)
	}

	_, err = p.Inspect(ctx, &core.InspectRequest{Handle: core.Handle{Provider: "fake", ID: "gone"}})
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Inspect(gone) = %v, want core.ErrNotFound", err)
	}
}

func TestEveryRPCRoundTrips(t *testing.T) {
	checkScripted(t, plugintest.Serve(t, fakeprovider.Scripted()))
}

// The fixtures must set every field, or a field core adds later could be
// dropped on the wire without any test noticing.
func TestFixturesSetEveryField(t *testing.T) {
	for name, v := range map[string]any{
		"CreateRequest":   fakeprovider.CreateRequest(),
		"ProviderInfo":    fakeprovider.Info(),
		"CreateResponse":  fakeprovider.CreateResponse(),
		"InspectResponse": fakeprovider.InspectResponse(),
		"SandboxInfo":     fakeprovider.ListResponse().Sandboxes[0],
	} {
		for _, field := range unsetFields(reflect.ValueOf(v), name) {
			if field != "CreateRequest.Progress" {
				t.Errorf("fakeprovider fixture leaves %s unset; set it so the round trip covers it", field)
			}
		}
	}
}

func unsetFields(v reflect.Value, path string) []string {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
			return []string{path}
		}
		return nil
	}
	var out []string
	for i := range v.NumField() {
		out = append(out, unsetFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
	}
	return out
}

func TestProgressCallbackOnlyWhenHostListens(t *testing.T) {
	var sawProgress []bool
	fake := fakeprovider.Scripted()
	fake.CreateFunc = func(_ context.Context, r *core.CreateRequest) (*core.CreateResponse, error) {
		sawProgress = append(sawProgress, r.Progress != nil)
		return fakeprovider.CreateResponse(), nil
	}
	p := plugintest.Serve(t, fake)
	for _, progress := range []func(core.Progress){nil, func(core.Progress) {}} {
		if _, err := p.Create(context.Background(), &core.CreateRequest{SessionID: "s", Progress: progress}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(sawProgress, []bool{false, true}) {
		t.Errorf("provider saw a Progress callback %v, want [false true]", sawProgress)
	}
}

// Errors answer errors.Is and print the same through the boundary as they
// do in-process.
func TestErrorsKeepIdentityAndMessage(t *testing.T) {
	direct := fakeprovider.Scripted()
	remote := plugintest.Serve(t, fakeprovider.Scripted())
	for name := range fakeprovider.Errors {
		t.Run(name, func(t *testing.T) {
			req := &core.CreateRequest{SessionID: fakeprovider.SessionErrorPrefix + name}
			_, want := direct.Create(context.Background(), req)
			_, got := remote.Create(context.Background(), req)
			if got == nil {
				t.Fatal("Create through the plugin succeeded, want an error")
			}
			if got.Error() != want.Error() {
				t.Errorf("message = %q, want %q", got.Error(), want.Error())
			}
			for _, s := range fakeprovider.Sentinels {
				if errors.Is(got, s) != errors.Is(want, s) {
					t.Errorf("errors.Is(err, %q) = %v through the plugin, %v in-process", s, errors.Is(got, s), errors.Is(want, s))
				}
			}
		})
	}
}

func TestNilResultIsPluginFailure(t *testing.T) {
	fake := fakeprovider.Scripted()
	fake.InspectFunc = func(context.Context, *core.InspectRequest) (*core.InspectResponse, error) { return nil, nil }
	_, err := plugintest.Serve(t, fake).Inspect(context.Background(), &core.InspectRequest{})
	if !errors.Is(err, core.ErrPluginFailed) || !strings.Contains(err.Error(), "neither a result nor an error from Inspect") {
		t.Errorf("Inspect = %v, want core.ErrPluginFailed naming the missing result", err)
	}
}

func TestCancellationReachesProvider(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	fake := fakeprovider.Scripted()
	fake.CreateFunc = func(ctx context.Context, _ *core.CreateRequest) (*core.CreateResponse, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}
	p := plugintest.Serve(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := p.Create(ctx, &core.CreateRequest{SessionID: "s"})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, core.ErrPluginFailed) {
		t.Errorf("Create = %v, want context.Canceled and core.ErrPluginFailed", err)
	}
	if !strings.Contains(err.Error(), "did not answer Create before the call was cancelled") {
		t.Errorf("message %q does not say the plugin did not answer", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the provider's context was not cancelled")
	}
}

func TestHungProviderBoundedByDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fake := fakeprovider.Scripted()
	fake.InfoFunc = func(context.Context) (*core.ProviderInfo, error) {
		<-release // ignores its context, as a stuck provider would
		return fakeprovider.Info(), nil
	}
	p := plugintest.Serve(t, fake)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Info(ctx)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Info returned after %v, want about 200ms", elapsed)
	}
	if !errors.Is(err, core.ErrPluginFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Info = %v, want core.ErrPluginFailed and context.DeadlineExceeded", err)
	}
	if want := "provider plugin in-process did not answer Info before its deadline"; err == nil || err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

func TestProviderPluginWithoutImplRefusesToServe(t *testing.T) {
	if err := (&plugin.ProviderPlugin{}).GRPCServer(nil, nil); err == nil || !strings.Contains(err.Error(), "Impl is nil") {
		t.Errorf("GRPCServer without Impl = %v, want an error naming Impl", err)
	}
}

// A provider that honours its context answers with ctx.Err() at about the
// moment the caller's own deadline fires; the caller must get the same
// error whichever reaches it first.
func TestCallerDeadlineGivesOneAnswer(t *testing.T) {
	fake := fakeprovider.Scripted()
	fake.DestroyFunc = func(ctx context.Context, _ *core.DestroyRequest) error {
		<-ctx.Done()
		return ctx.Err()
	}
	p := plugintest.Serve(t, fake)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		err := p.Destroy(ctx, &core.DestroyRequest{})
		cancel()
		if want := "provider plugin in-process did not answer Destroy before its deadline"; err == nil || err.Error() != want {
			t.Fatalf("Destroy = %v, want %q", err, want)
		}
	}
}
