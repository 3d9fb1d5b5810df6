package notebook

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

// PlainText renders the output as plain text for terminals and agents:
// a stream's text; for rich data its text/plain, or else a placeholder such
// as "[image/png, 5120 bytes]"; for an error "EName: EValue" followed by the
// traceback without ANSI colour codes.
func (o *Output) PlainText() string {
	switch o.Type {
	case StreamOutput:
		return o.Text
	case DisplayDataOutput, ExecuteResultOutput:
		if s, ok := bundleString(o.Data["text/plain"]); ok {
			return s
		}
		return placeholder(o)
	case ErrorOutput:
		var b strings.Builder
		b.WriteString(o.EName + ": " + o.EValue)
		for _, line := range o.Traceback {
			b.WriteString("\n" + StripANSI(line))
		}
		return b.String()
	}
	return ""
}

// placeholder names the output's best MIME type and its size: images first,
// since a figure is what a reader most needs to know about, then others in
// sorted order.
func placeholder(o *Output) string {
	mimes := sortedKeys(o.Data)
	if len(mimes) == 0 {
		return "[empty output]"
	}
	best := mimes[0]
	for _, m := range mimes {
		if strings.HasPrefix(m, "image/") {
			best = m
			break
		}
	}
	raw := o.Data[best]
	size := len(raw)
	if s, ok := bundleString(raw); ok {
		size = len(s)
		if strings.HasPrefix(best, "image/") && best != "image/svg+xml" {
			// Binary images are base64; their real size is what matters.
			if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err == nil {
				size = len(b)
			}
		}
	}
	return fmt.Sprintf("[%s, %d bytes]", best, size)
}

// ansi matches terminal escape sequences: CSI (colours, cursor moves) and
// OSC (titles, hyperlinks), which IPython puts in tracebacks.
var ansi = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)`)

// StripANSI removes terminal escape sequences from s.
func StripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansi.ReplaceAllString(s, "")
}
