package core

import "fmt"

// Progress reports how a long step of bringing a sandbox up goes (building
// an environment or image, downloading a model), for a person to watch.
// Reports with the same Step describe one step as it advances; a report
// with no Step is a one-off note.
type Progress struct {
	// Step names what is being done, stably across its reports:
	// "python environment", "image", "model google/gemma-2-9b-it".
	Step string
	// Message is the latest detail: the package or file at hand, or a note.
	Message string
	// Done and Total measure the step in Unit (Total 0: not known yet).
	Done, Total int64
	// Unit is UnitBytes or a plural noun ("packages", "steps").
	Unit string
	// Finished is set on a step's last report.
	Finished bool
}

// UnitBytes is the Unit of steps that count bytes.
const UnitBytes = "bytes"

// Note is a one-off progress report: a message and nothing to measure.
func Note(format string, args ...any) Progress {
	return Progress{Message: fmt.Sprintf(format, args...)}
}

// String is the report as one plain line of text.
func (p Progress) String() string {
	s := p.Message
	if p.Step != "" {
		s = p.Step
		if p.Message != "" {
			s += ": " + p.Message
		}
	}
	return s
}
