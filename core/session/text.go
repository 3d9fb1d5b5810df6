package session

import "strings"

// Text is what the cell printed, as one string: stream text as it came,
// the text/plain of results and displays (a placeholder such as
// "[image/png, 5120 bytes]" for images) each on its own line, and an error
// as "EName: EValue" and its traceback, without colour codes.
func (e *Execution) Text() string {
	if e == nil || e.Cell == nil {
		return ""
	}
	var b strings.Builder
	for _, o := range e.Cell.Outputs {
		s := o.PlainText()
		b.WriteString(s)
		if o.Type != "stream" && !strings.HasSuffix(s, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// OK reports whether the cell ran to the end without raising (and, in CLI
// sessions, the command exited 0).
func (e *Execution) OK() bool {
	return e != nil && e.Result != nil && e.Result.Status == "ok" && e.ExitCode == 0 && !e.Result.Interrupted
}
