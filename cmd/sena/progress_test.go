package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
)

// TestPlainProgress: without a terminal, a step is a line when it starts,
// at most one per plainEvery while it runs, and one when it ends; notes are
// lines of their own; nothing but text and newlines.
func TestPlainProgress(t *testing.T) {
	var out strings.Builder
	p := newPrinter(&out, false, false)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.ticking = true // no ticker: this test moves the clock itself

	p.update(core.Note("creating local sandbox s1"))
	for i := range 121 { // twelve seconds of pip, a report every 100 ms
		p.update(core.Progress{Step: "python environment", Message: "collecting torch", Done: int64(i / 10), Unit: "packages"})
		clock = clock.Add(100 * time.Millisecond)
	}
	p.update(core.Progress{Step: "python environment", Message: "ready in /venv", Finished: true})
	for i := range 31 { // three seconds of a download
		p.update(core.Progress{Step: "model o/m", Message: "model.safetensors", Done: int64(i) * 1_000_000, Total: 30_000_000, Unit: core.UnitBytes})
		clock = clock.Add(100 * time.Millisecond)
	}
	p.update(core.Progress{Step: "model o/m", Message: "downloaded 30.0 MB", Done: 30_000_000, Total: 30_000_000, Unit: core.UnitBytes, Finished: true})

	want := []string{
		"sena: creating local sandbox s1",
		"sena: python environment: 0:00 · collecting torch",
		"sena: python environment: 5 packages 0:05 · collecting torch",
		"sena: python environment: 10 packages 0:10 · collecting torch",
		"sena: python environment: ready in /venv (0:12)",
		"sena: model o/m:   0% 0 B / 30.0 MB · model.safetensors",
		"sena: model o/m: downloaded 30.0 MB (30.0 MB in 0:03)",
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain progress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTerminalLineFits: on a narrow terminal the detail goes first, then
// most of the bar, then the end of the step's name; the numbers stay.
func TestTerminalLineFits(t *testing.T) {
	var out strings.Builder
	p := newPrinter(&out, true, false)
	start := time.Unix(0, 0)
	p.now = func() time.Time { return start.Add(10 * time.Second) }
	st := &stepState{start: start, last: core.Progress{Step: "model meta-llama/Meta-Llama-3.1-70B-Instruct", Message: "model-00001-of-00030.safetensors",
		Done: 5_000_000_000, Total: 140_000_000_000, Unit: core.UnitBytes}}
	for _, width := range []int{200, 100, 80, 60, 40} {
		p.width = func() int { return width }
		line := p.line(st, p.now(), true)
		if n := len([]rune(line)); n > width-1 {
			t.Errorf("width %d: %d columns: %q", width, n, line)
		}
		if !strings.Contains(line, "4% 5.0 GB / 140.0 GB 500.0 MB/s ETA 4:30") && width >= 60 {
			t.Errorf("width %d: the numbers were cut: %q", width, line)
		}
		if width == 200 && !strings.HasSuffix(line, "· model-00001-of-00030.safetensors") {
			t.Errorf("width 200: %q, want the whole line", line)
		}
	}
}
