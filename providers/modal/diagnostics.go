package modal

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// Diagnostics: what a sandbox that ended early said, so that an error names
// the cause and not only "no tunnel".
const (
	tailLines = 15
	tailBytes = 4 << 10
	// tailWait bounds reading a finished sandbox's log.
	tailWait = 5 * time.Second
)

// logTail returns the last lines a finished sandbox wrote to r (its Stderr
// or Stdout), reading for at most tailWait; "" when it wrote nothing.
func logTail(r io.ReadCloser) string {
	type result struct{ data []byte }
	done := make(chan result, 1)
	go func() {
		data, _ := io.ReadAll(io.LimitReader(r, 64<<20))
		done <- result{data}
	}()
	var data []byte
	select {
	case res := <-done:
		data = res.data
	case <-time.After(tailWait):
	}
	_ = r.Close()
	return tail(string(data))
}

// tail keeps the last tailLines lines of s, at most tailBytes, indented.
func tail(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	if len(s) > tailBytes {
		s = "…" + s[len(s)-tailBytes:]
	}
	lines := strings.Split(s, "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// exitedError reports a sandbox that ended while Create waited for stage
// ("its tunnel", "Jupyter"), with how it ended and the end of its stderr.
func exitedError(sb *modalsdk.Sandbox, code int, stage string) error {
	how := fmt.Sprintf("exited with code %d", code)
	switch code {
	case 124:
		how = "reached its timeout"
	case 137:
		how = "was terminated (or killed: out of memory?)"
	}
	msg := fmt.Sprintf("modal: sandbox %s %s before %s", sb.SandboxID, how, stage)
	if t := logTail(sb.Stderr); t != "" {
		msg += "; its stderr ends with:\n" + t
	} else {
		msg += fmt.Sprintf("; it wrote nothing to stderr (`modal container logs %s` may show more)", sb.SandboxID)
	}
	return core.Errorf(core.ErrUnavailable, "%s", msg)
}

// exitCode polls whether sb has ended; nil while it runs or when Modal
// cannot say.
func exitCode(ctx context.Context, sb *modalsdk.Sandbox) *int {
	code, err := sb.Poll(ctx)
	if err != nil {
		return nil
	}
	return code
}
