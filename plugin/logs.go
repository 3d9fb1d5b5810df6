package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Logs cross the boundary as hclog JSON lines on the plugin's stderr (stdout
// carries the go-plugin handshake): the plugin writes them with pluginLogger,
// go-plugin parses them on the host, and hostLogger hands them to slog.

// hclogTimeFormat is the timestamp layout go-plugin's host parser accepts.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// pluginLogger is the slog.Logger a plugin's provider gets from Serve.
func pluginLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

func slogLevel(hclogLevel string) slog.Level {
	switch hclogLevel {
	case "trace":
		return slog.LevelDebug - 4
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// hostLogger is the hclog.Logger go-plugin gets on the host: it logs its own
// events and the plugin's stderr lines through it, and both reach logger.
func hostLogger(logger *slog.Logger) hclog.Logger {
	if logger == nil {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.Trace, // logger's handler decides what is kept
		Output:     &slogWriter{logger: logger},
		JSONFormat: true,
	})
}

// slogWriter re-logs hclog JSON lines to a slog.Logger at their level.
type slogWriter struct {
	logger *slog.Logger
	mu     sync.Mutex
	buf    []byte
}

func (w *slogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.logLine(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *slogWriter) logLine(line []byte) {
	var entry map[string]any
	if err := json.Unmarshal(line, &entry); err != nil {
		w.logger.Info(string(line))
		return
	}
	level, _ := entry["@level"].(string)
	msg, _ := entry["@message"].(string)
	attrs := make([]any, 0, 2*len(entry))
	for k, v := range entry {
		switch k {
		case "@level", "@message", "@timestamp":
		case "@module":
			attrs = append(attrs, "module", v)
		default:
			attrs = append(attrs, k, v)
		}
	}
	w.logger.Log(context.Background(), slogLevel(level), msg, attrs...)
}

// stderrTail keeps the end of a plugin's stderr so that a crash can be
// explained with its last words, and the first panic line, which the stack
// trace after it would otherwise push out.
type stderrTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	panic   string
}

const (
	tailLines    = 8
	tailLineSize = 300
)

func newStderrTail() *stderrTail { return &stderrTail{} }

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		t.add(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
}

func (t *stderrTail) add(line string) {
	line = strings.TrimRight(readable(line), " \t\r")
	if line == "" {
		return
	}
	if len(line) > tailLineSize {
		line = line[:tailLineSize] + "..."
	}
	if t.panic == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		t.panic = line
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// readable shows a plugin's JSON log line as "level: message".
func readable(line string) string {
	var entry struct {
		Level   string `json:"@level"`
		Message string `json:"@message"`
	}
	if json.Unmarshal([]byte(line), &entry) != nil || entry.Message == "" {
		return line
	}
	return entry.Level + ": " + entry.Message
}

// summary is appended to an error message: "" when the plugin said nothing.
func (t *stderrTail) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	var b strings.Builder
	if t.panic != "" {
		b.WriteString(": " + t.panic)
	}
	b.WriteString("\nlast lines of its stderr:")
	for _, l := range t.lines {
		b.WriteString("\n  " + l)
	}
	return b.String()
}
