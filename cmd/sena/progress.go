package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/humanize"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// How often progress is drawn: a terminal line at most ten times a second;
// plain lines (a pipe, a log, --json) when a step starts and ends, and at
// most every plainEvery while it runs.
const (
	redrawEvery = 100 * time.Millisecond
	plainEvery  = 5 * time.Second
)

// printer renders core.Progress on stderr. On a terminal the current step
// is one line, redrawn in place with a bar, percent, bytes, rate and ETA
// (or a spinner and the elapsed time while the total is unknown); a
// finished step leaves its last state on its own line. Anywhere else it
// writes plain lines at a bounded rate, with no escape codes at all.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	color bool
	width func() int
	now   func() time.Time

	steps   map[string]*stepState
	cur     *stepState // the step on the terminal line, if one is drawn
	last    *stepState // the step reported last (plain mode)
	drawn   int        // width of what is on the terminal line
	frames  int        // spinner position
	ticking bool
}

type stepState struct {
	start     time.Time
	firstDone int64 // Done at the first report: bytes already there are no rate
	last      core.Progress
	lastDraw  time.Time
	finished  bool
}

var (
	active   *printer // the printer of this process, if progress was asked for
	activeMu sync.Mutex
)

// startProgress returns the Progress func for c's command, drawing on
// stderr: a redrawn line when stderr is a terminal (and not --json).
func startProgress(c *cli.Context) func(core.Progress) {
	activeMu.Lock()
	defer activeMu.Unlock()
	if active == nil {
		active = newPrinter(os.Stderr, isTerminal(os.Stderr) && !c.Bool("json") && os.Getenv("TERM") != "dumb", useColor(c, os.Stderr))
	}
	return active.update
}

func newPrinter(w io.Writer, tty, color bool) *printer {
	p := &printer{w: w, tty: tty, color: color, now: time.Now, steps: map[string]*stepState{}, width: func() int { return 80 }}
	if f, ok := w.(*os.File); ok && tty {
		p.width = func() int {
			if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
				return int(ws.Col)
			}
			return 80
		}
	}
	return p
}

// endProgress finishes a line left half drawn (before an error is printed).
func endProgress() {
	activeMu.Lock()
	defer activeMu.Unlock()
	if active != nil {
		active.mu.Lock()
		active.clear()
		active.cur, active.last = nil, nil // the ticker draws no more
		active.mu.Unlock()
	}
}

// progressWriter is stderr for other writers (the logger): it clears the
// terminal line first, so a log line never lands in the middle of a bar.
func progressWriter() io.Writer { return clearingWriter{} }

type clearingWriter struct{}

func (clearingWriter) Write(b []byte) (int, error) {
	activeMu.Lock()
	p := active
	activeMu.Unlock()
	if p == nil {
		return os.Stderr.Write(b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	n, err := p.w.Write(b)
	p.redraw()
	return n, err
}

func (p *printer) update(u core.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if u.Step == "" { // a note: a line of its own
		p.clear()
		fmt.Fprintf(p.w, "sena: %s\n", u.Message)
		p.redraw()
		return
	}
	st := p.steps[u.Step]
	isNew := st == nil || st.finished
	if isNew {
		st = &stepState{start: now, firstDone: u.Done}
		p.steps[u.Step] = st
	}
	st.last = u
	st.finished = u.Finished
	p.last = st
	p.tick()
	if !p.tty {
		if isNew || u.Finished || now.Sub(st.lastDraw) >= plainEvery {
			st.lastDraw = now
			fmt.Fprintf(p.w, "sena: %s\n", p.line(st, now, false))
		}
		return
	}
	if p.cur != st && p.cur != nil && !p.cur.finished {
		p.finishLine() // another step took over: leave this one's state
	}
	p.cur = st
	if !isNew && !u.Finished && now.Sub(st.lastDraw) < redrawEvery {
		return
	}
	st.lastDraw = now
	p.draw(p.line(st, now, true))
	if u.Finished {
		fmt.Fprint(p.w, "\n")
		p.cur, p.drawn = nil, 0
	}
}

// tick keeps a running step visible while its tool prints nothing (pip
// resolving, a big wheel, a slow tunnel): the terminal line's spinner and
// clock move every redrawEvery, and plain output says where it is every
// plainEvery. It starts with the first step and lasts as long as the process.
func (p *printer) tick() {
	if p.ticking {
		return
	}
	p.ticking = true
	every := plainEvery
	if p.tty {
		every = redrawEvery
	}
	go func() {
		for range time.Tick(every) {
			p.mu.Lock()
			now := p.now()
			switch {
			case p.tty && p.cur != nil && !p.cur.finished && now.Sub(p.cur.lastDraw) >= redrawEvery:
				p.cur.lastDraw = now
				p.draw(p.line(p.cur, now, true))
			case !p.tty && p.last != nil && !p.last.finished && now.Sub(p.last.lastDraw) >= plainEvery:
				p.last.lastDraw = now
				fmt.Fprintf(p.w, "sena: %s\n", p.line(p.last, now, false))
			}
			p.mu.Unlock()
		}
	}()
}

// finishLine ends the terminal line with the current step's state.
func (p *printer) finishLine() {
	if p.cur == nil {
		return
	}
	p.draw(p.line(p.cur, p.now(), false))
	fmt.Fprint(p.w, "\n")
	p.cur, p.drawn = nil, 0
}

// clear empties the terminal line (for a note, a log line or an error).
func (p *printer) clear() {
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.drawn))
		p.drawn = 0
	}
}

// redraw puts the current step back after clear.
func (p *printer) redraw() {
	if p.tty && p.cur != nil && !p.cur.finished {
		p.draw(p.line(p.cur, p.now(), true))
	}
}

// draw replaces the terminal line with s, cut to the terminal's width so
// that it never wraps (a wrapped line cannot be redrawn with \r). Spaces,
// not an erase-line escape, cover what a longer line left.
func (p *printer) draw(s string) {
	s = truncate(s, p.width()-1)
	n := utf8.RuneCountInString(s)
	pad := ""
	if p.drawn > n {
		pad = strings.Repeat(" ", p.drawn-n)
	}
	fmt.Fprintf(p.w, "\r%s%s", p.colorize(s), pad)
	p.drawn = n
}

// colorize colours the bar, when colours are on.
func (p *printer) colorize(s string) string {
	if !p.color {
		return s
	}
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return s
	}
	return s[:i+1] + "\x1b[36m" + s[i+1:j] + "\x1b[0m" + s[j:]
}

var spinner = []string{"|", "/", "-", `\`}

// line is a step's state as text, as in
//
//	model org/m [########............]  41% 1.2 GB / 2.9 GB 31.0 MB/s ETA 0:54 · model.safetensors
//	python environment | 12 packages 0:23 · downloading torch-2.5.1-...whl (906.4 MB)
//
// live is for the terminal line: with the bar or spinner, and fitted to
// the terminal's width by dropping, in this order, the detail, most of the
// bar, and the end of the step's name; the numbers stay.
func (p *printer) line(st *stepState, now time.Time, live bool) string {
	u := st.last
	elapsed := now.Sub(st.start)
	name, bar, stats := u.Step, "", ""
	switch {
	case u.Finished:
		stats = u.Message
		if u.Total > 0 && u.Unit == core.UnitBytes {
			stats += " (" + humanize.Bytes(u.Total)
			if elapsed >= time.Second {
				stats += " in " + humanize.Clock(elapsed)
			}
			stats += ")"
		} else if elapsed >= time.Second {
			stats += " (" + humanize.Clock(elapsed) + ")"
		}
		return name + ": " + stats
	case u.Total > 0:
		frac := min(float64(u.Done)/float64(u.Total), 1)
		if live {
			bar = "bar" // drawn below, to the width there is room for
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%3.0f%% ", frac*100)
		rate := float64(u.Done-st.firstDone) / max(elapsed.Seconds(), 1e-3)
		if u.Unit == core.UnitBytes {
			fmt.Fprintf(&b, "%s / %s", humanize.Bytes(u.Done), humanize.Bytes(u.Total))
			if elapsed >= 500*time.Millisecond {
				fmt.Fprintf(&b, " %s/s", humanize.Bytes(int64(rate)))
			}
		} else {
			fmt.Fprintf(&b, "%d/%d %s", u.Done, u.Total, u.Unit)
		}
		if rate > 0 && u.Done < u.Total && elapsed >= 500*time.Millisecond {
			eta := time.Duration(float64(u.Total-u.Done) / rate * float64(time.Second))
			fmt.Fprintf(&b, " ETA %s", humanize.Clock(eta))
		}
		stats = b.String()
		if bar != "" {
			return p.fit(name, func(width int) string { return drawBar(frac, width) }, stats, u.Message)
		}
	default:
		var b strings.Builder
		if live {
			p.frames++
			b.WriteString(spinner[p.frames%len(spinner)] + " ")
		}
		if u.Done > 0 {
			if u.Unit == core.UnitBytes {
				b.WriteString(humanize.Bytes(u.Done) + " ")
			} else {
				fmt.Fprintf(&b, "%d %s ", u.Done, u.Unit)
			}
		}
		b.WriteString(humanize.Clock(elapsed))
		stats = b.String()
		if live {
			return p.fit(name, nil, stats, u.Message)
		}
	}
	s := name + ": " + stats
	if u.Message != "" {
		s += " · " + u.Message
	}
	return s
}

// fit lays out a terminal line: NAME [BAR] STATS · DETAIL, within the
// terminal's width.
func (p *printer) fit(name string, bar func(width int) string, stats, detail string) string {
	width := p.width() - 1 // the last column would wrap on some terminals
	barW := 0
	if bar != nil {
		barW = 20
	}
	layout := func(name string, barW int, detail string) string {
		s := name + " "
		if bar != nil {
			s += "[" + bar(barW) + "] "
		}
		s += stats
		if detail != "" {
			s += " · " + detail
		}
		return s
	}
	n := utf8.RuneCountInString
	if s := layout(name, barW, detail); n(s) <= width {
		return s
	}
	if room := width - n(layout(name, barW, "")) - 3; room >= 8 { // the detail, cut
		return layout(name, barW, truncate(detail, room))
	}
	for barW > 8 && n(layout(name, barW, "")) > width {
		barW--
	}
	if s := layout(name, barW, ""); n(s) <= width {
		return s
	}
	room := width - n(layout("", barW, ""))
	return truncate(layout(truncate(name, max(room, 4)), barW, ""), width)
}

func drawBar(frac float64, width int) string {
	full := int(frac * float64(width))
	return strings.Repeat("#", full) + strings.Repeat(".", width-full)
}

func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// useColor: colours only on a terminal, never with --no-color or NO_COLOR
// (https://no-color.org), nor on TERM=dumb.
func useColor(c *cli.Context, f *os.File) bool {
	return !c.Bool("no-color") && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(f)
}

// isTerminal: w is a terminal (not a pipe, a file, or /dev/null, which is a
// character device too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
