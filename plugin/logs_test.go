package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStderrTailKeepsPanicAndLastLines(t *testing.T) {
	tail := newStderrTail()
	if got := tail.summary(); got != "" {
		t.Errorf("summary of a silent plugin = %q, want empty", got)
	}
	fmt.Fprintf(tail, `{"@level":"info","@message":"starting","@timestamp":"x"}`+"\n")
	fmt.Fprintf(tail, "panic: boom\n\ngoroutine 1 [running]:\n")
	for i := range 20 {
		fmt.Fprintf(tail, "frame %d\n", i)
	}
	tail.Write([]byte("exit status ")) // a line in two writes
	tail.Write([]byte("2\n"))
	got := tail.summary()
	if !strings.HasPrefix(got, ": panic: boom\nlast lines of its stderr:\n") {
		t.Errorf("summary does not lead with the panic: %q", got)
	}
	if !strings.HasSuffix(got, "\n  frame 19\n  exit status 2") {
		t.Errorf("summary does not end with the last lines: %q", got)
	}
	if n := strings.Count(got, "\n  "); n != tailLines {
		t.Errorf("summary has %d lines, want %d", n, tailLines)
	}

	tail = newStderrTail()
	fmt.Fprintf(tail, `{"@level":"error","@message":"cannot start provider: no DOCKER_HOST","@timestamp":"x"}`+"\n")
	if got, want := tail.summary(), "\nlast lines of its stderr:\n  error: cannot start provider: no DOCKER_HOST"; got != want {
		t.Errorf("summary = %q, want %q (JSON logs shown as level: message)", got, want)
	}
}

// A plugin's log line, as Serve's logger writes it, reaches the host's slog
// handler with its level, message and attributes; go-plugin's parser needs
// its timestamp in hclog's layout.
func TestPluginLogLineRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	pluginLogger(&wire).Debug("pulled", "image", "sena/cuda", "layers", 3)

	var entry map[string]any
	if err := json.Unmarshal(wire.Bytes(), &entry); err != nil {
		t.Fatalf("plugin log line is not JSON: %q", wire.String())
	}
	if _, err := time.Parse(hclogTimeFormat, fmt.Sprint(entry["@timestamp"])); err != nil {
		t.Errorf("@timestamp %v is not in hclog's layout: %v", entry["@timestamp"], err)
	}
	if entry["@level"] != "debug" || entry["@message"] != "pulled" {
		t.Errorf("plugin log line = %v, want @level debug and @message pulled", entry)
	}

	var host bytes.Buffer
	w := &slogWriter{logger: slog.New(slog.NewTextHandler(&host, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	w.Write(wire.Bytes())
	w.Write([]byte("not json\n"))
	got := host.String()
	for _, want := range []string{`level=DEBUG msg=pulled`, `image=sena/cuda`, `layers=3`, `level=INFO msg="not json"`} {
		if !strings.Contains(got, want) {
			t.Errorf("host log %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "@timestamp") {
		t.Errorf("host log repeats the plugin's timestamp: %q", got)
	}
}
