package modal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
	"github.com/sena-labs/sena/providers/modal/internal/recorder"
)

// The recorded-traffic tier. Against Modal itself (SENA_MODAL_RECORD=1 and
// real credentials), one CPU sandbox goes through create, tunnel, kernel,
// tags and list, then a volume is written by one sandbox and read by
// another; the gRPC exchanges are recorded through modal-go's interceptors
// into goldenPath. Without credentials, CI replays that golden file against
// the same code and fails on any request that differs: drift in modal-go
// or in how Sena uses it. The machinery itself is checked by recording the
// scenario against the fake and replaying that.
//
// No golden file has been recorded yet: Modal could not be reached where
// this was written. Record one with
//
//	SENA_MODAL_RECORD=1 MODAL_TOKEN_ID=ak-... MODAL_TOKEN_SECRET=as-... go test ./providers/modal -run RecordedTraffic/Record -v

const goldenPath = "testdata/golden/cpu-sandbox.jsonl"

// scenario names what the requests carry, so a replay makes the same ones.
type scenario struct {
	Session string `json:"session"`
	Volume  string `json:"volume"`
}

func newScenario() scenario {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	return scenario{Session: "sena-rec-" + id, Volume: "sena-rec-volume-" + id}
}

// run drives the scenario through p. token is the Jupyter token; live adds
// what needs the tunnel's Jupyter (not gRPC, so not recorded).
func (sc scenario) run(t *testing.T, ctx context.Context, p *Provider, token string, live bool) {
	t.Helper()
	labels := map[string]string{core.LabelManaged: "true", core.LabelSession: sc.Session, core.LabelStateDir: "recorded"}
	resp, err := p.Create(ctx, &core.CreateRequest{
		SessionID: sc.Session, Labels: labels, JupyterToken: token,
		Spec: core.SandboxSpec{Timeout: 10 * time.Minute, Files: map[string][]byte{"lib/probe.py": []byte("WHO = 'recorded'\n")}},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer func() {
		if err := p.Destroy(context.WithoutCancel(ctx), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
			t.Errorf("Destroy %s: %v (terminate it in the Modal dashboard)", resp.Handle.ID, err)
		}
	}()
	if live {
		srv, err := kernel.NewServer(resp.Endpoint.URL, token)
		if err != nil {
			t.Fatal(err)
		}
		if data, err := srv.GetFile(ctx, "lib/probe.py"); err != nil || string(data) != "WHO = 'recorded'\n" {
			t.Errorf("the workspace file through Jupyter: %q, %v", data, err)
		}
		s, err := srv.StartSession(ctx, "recorded.ipynb", "")
		if err != nil {
			t.Fatalf("start a kernel: %v", err)
		}
		k, err := srv.Connect(ctx, s.Kernel.ID)
		if err != nil {
			t.Fatalf("connect to the kernel: %v", err)
		}
		res, err := k.Execute(ctx, "import lib.probe; assert lib.probe.WHO == 'recorded'", nil)
		k.Close()
		if err != nil || res.Status != "ok" {
			t.Errorf("kernel: %+v, %v", res, err)
		}
	}
	l, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: sc.Session}})
	if err != nil || len(l.Sandboxes) != 1 || l.Sandboxes[0].Handle.ID != resp.Handle.ID || l.Sandboxes[0].Labels[core.LabelStateDir] != "recorded" {
		t.Errorf("List by session = %+v, %v; want %s with its tags", l, err, resp.Handle.ID)
	}

	// A volume written by one sandbox and read by another.
	mc, err := p.modal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app, err := mc.Apps.FromName(ctx, appName, &modalsdk.AppFromNameParams{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	vol, err := mc.Volumes.FromName(ctx, sc.Volume, &modalsdk.VolumeFromNameParams{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := mc.Volumes.Delete(context.WithoutCancel(ctx), sc.Volume, nil); err != nil {
			t.Errorf("delete volume %s: %v", sc.Volume, err)
		}
	}()
	image := mc.Images.FromRegistry(downloadBase, nil)
	writer, err := mc.Sandboxes.Create(ctx, app, image, &modalsdk.SandboxCreateParams{
		Command: []string{"python3", "-c", "import os, sys; open(sys.argv[1], 'w').write('sena'); os.sync()", "/vol/probe.txt"},
		Volumes: map[string]*modalsdk.Volume{"/vol": vol}, Timeout: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := writer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("the writer: exit %d, %v", code, err)
	}
	reader, err := mc.Sandboxes.Create(ctx, app, image, &modalsdk.SandboxCreateParams{
		Command: []string{"sleep", "300"}, Volumes: map[string]*modalsdk.Volume{"/vol": vol.ReadOnly()}, Timeout: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.terminate(ctx, reader)
	rf, err := openWhenStarted(ctx, reader, "/vol/probe.txt", "rb")
	if err != nil {
		t.Fatalf("open the volume's file in the reader: %v", err)
	}
	buf := make([]byte, 64)
	n, err := rf.Read(buf)
	_ = rf.Close()
	if (err != nil && !errors.Is(err, io.EOF)) || string(buf[:n]) != "sena" {
		t.Errorf("the reader read %q, %v; want what the writer wrote", buf[:n], err)
	}
}

// recordingProvider is a provider whose client traffic goes through rec.
func recordingProvider(rec *recorder.Recorder) *Provider {
	p := newProvider(slog.New(slog.DiscardHandler), testDockerfile)
	p.unary = append(p.unary, rec.Unary())
	p.stream = append(p.stream, rec.Stream())
	return p
}

// replay runs the scenario against a recording and returns the drift: the
// requests that differ, and the recorded calls the code no longer makes.
func replay(t *testing.T, sc scenario, xs []recorder.Exchange) (drift, unused []string) {
	t.Helper()
	r, err := recorder.Serve(xs, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Setenv("MODAL_SERVER_URL", r.URL)
	t.Setenv("MODAL_TOKEN_ID", "ak-replay")
	t.Setenv("MODAL_TOKEN_SECRET", "as-replay")
	t.Setenv("MODAL_CONFIG_PATH", os.DevNull)
	p := newProvider(slog.New(slog.DiscardHandler), testDockerfile)
	p.ready = func(context.Context, *modalsdk.Sandbox, string, string) error { return nil }
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc.run(t, ctx, p, recorder.Redacted, false)
	// Polls depend on timing; everything else recorded must be asked for.
	return r.Drift(), r.Unused("SandboxWait", "SandboxGetTunnels", "SandboxGetLogs")
}

func noDrift(t *testing.T, drift, unused []string) {
	t.Helper()
	for _, d := range drift {
		t.Errorf("drift from the recording: %s", d)
	}
	if len(unused) > 0 {
		t.Errorf("recorded calls the code no longer makes: %s", strings.Join(unused, ", "))
	}
}

func TestRecordedTraffic(t *testing.T) {
	t.Run("RoundTripAgainstTheFake", func(t *testing.T) {
		fake := fakemodal.Start(t)
		fake.OnBatch(func(b *fakemodal.Batch) (int, string) {
			if b.Args[0] == "sleep" {
				for !b.Ended() {
					time.Sleep(20 * time.Millisecond)
				}
				return 0, ""
			}
			// The writer: what its python does.
			path := b.HostPath(b.Args[3])
			if err := os.WriteFile(path, []byte("sena"), 0o644); err != nil {
				return 1, err.Error()
			}
			return 0, ""
		})
		sc := newScenario()
		rec := recorder.New(testToken)
		p := recordingProvider(rec)
		sc.run(t, testContext(t), p, testToken, false)
		_ = p.Close()
		xs := rec.Exchanges()
		if len(xs) < 10 {
			t.Fatalf("recorded %d exchanges; the scenario makes more calls", len(xs))
		}
		// Secrets are redacted, the auth token replaced.
		path := t.TempDir() + "/golden.jsonl"
		if err := rec.Write(path, recorder.Header{Scenario: mustJSON(sc)}); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		for _, secret := range []string{testToken, fakemodal.TokenSecret} {
			if strings.Contains(string(data), secret) {
				t.Errorf("the recording holds the secret %q", secret)
			}
		}
		h, loaded, err := recorder.Load(path)
		if err != nil || len(loaded) != len(xs) || string(h.Scenario) != string(mustJSON(sc)) {
			t.Fatalf("Load = %d exchanges, %s, %v; want %d and the scenario", len(loaded), h.Scenario, err, len(xs))
		}
		t.Logf("%d exchanges recorded and replayed", len(loaded))
		drift, unused := replay(t, sc, loaded)
		noDrift(t, drift, unused)

		// Drift is caught: a recording whose sandbox asked for another
		// timeout no longer matches what the code sends.
		for i, x := range loaded {
			if strings.HasSuffix(x.Method, "/SandboxCreate") {
				loaded[i].Request = json.RawMessage(strings.Replace(string(x.Request), `"timeout_secs":600`, `"timeout_secs":601`, 1))
				break
			}
		}
		drift, _ = replay(t, sc, loaded)
		if len(drift) != 1 || !strings.Contains(drift[0], "SandboxCreate: request differs") {
			t.Errorf("replaying an altered recording: drift %q, want the SandboxCreate request", drift)
		}
	})

	t.Run("ReplayGolden", func(t *testing.T) {
		h, xs, err := recorder.Load(goldenPath)
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("no golden recording at %s yet: it needs real Modal credentials (see TestRecordedTraffic's comment)", goldenPath)
		}
		if err != nil {
			t.Fatal(err)
		}
		var sc scenario
		if err := json.Unmarshal(h.Scenario, &sc); err != nil {
			t.Fatalf("%s: scenario: %v", goldenPath, err)
		}
		drift, unused := replay(t, sc, xs)
		noDrift(t, drift, unused)
	})

	t.Run("Record", func(t *testing.T) {
		if os.Getenv("SENA_MODAL_RECORD") == "" {
			t.Skip("SENA_MODAL_RECORD is not set: recording runs against Modal itself and needs real credentials")
		}
		if _, err := findCredentials(); err != nil {
			t.Skip(err)
		}
		token := testToken + "-" + newScenario().Session
		sc := newScenario()
		rec := recorder.New(token)
		p := recordingProvider(rec)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		sc.run(t, ctx, p, token, true)
		_ = p.Close()
		if t.Failed() {
			t.Fatal("not writing a golden file from a failed run")
		}
		if err := rec.Write(goldenPath, recorder.Header{Scenario: mustJSON(sc), Client: "modal-go v0.6.3"}); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d exchanges)", goldenPath, len(rec.Exchanges()))
	})
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}
