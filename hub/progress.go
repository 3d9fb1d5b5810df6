package hub

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress reports one file's transfer. Download first reports every file it
// will provide (Bytes already present, Total its size), then updates as bytes
// arrive, then Done. A file already in the cache is reported once, Done.
type Progress struct {
	// Repo is the model, File the path inside it.
	Repo string `json:"repo"`
	File string `json:"file"`
	// Bytes of Total are on disk.
	Bytes int64 `json:"bytes"`
	Total int64 `json:"total"`
	// Done: the file is complete in the snapshot.
	Done bool `json:"done"`
}

// reporter serialises calls to the user's callback.
type reporter struct {
	mu sync.Mutex
	fn func(Progress)
}

func (r *reporter) report(p Progress) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(p)
}

// ProgressPrinter renders Progress on w: as one terminal line redrawn at
// most ten times a second (files done, bytes, speed, current file), ending
// with a newline when every file is done; or, with asJSON, as JSON lines, one
// per file at most every half second plus one when each file is done.
func ProgressPrinter(w io.Writer, asJSON bool) func(Progress) {
	p := &printer{w: w, json: asJSON, files: map[string]*fileState{}, start: time.Now()}
	return p.update
}

type fileState struct {
	Progress
	lastJSON time.Time
}

type printer struct {
	mu       sync.Mutex
	w        io.Writer
	json     bool
	files    map[string]*fileState
	start    time.Time
	lastDraw time.Time
	finished bool
	startB   int64 // bytes present when the first report came, not counted in the speed
}

func (p *printer) update(u Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := u.Repo + "\x00" + u.File
	f := p.files[key]
	if f == nil {
		f = &fileState{}
		p.files[key] = f
		p.startB += u.Bytes
		p.finished = false
	}
	f.Progress = u
	now := time.Now()
	if p.json {
		if u.Done || now.Sub(f.lastJSON) >= 500*time.Millisecond {
			f.lastJSON = now
			b, _ := json.Marshal(u)
			p.w.Write(append(b, '\n'))
		}
		return
	}
	all := p.allDone()
	if p.finished || (!all && now.Sub(p.lastDraw) < 100*time.Millisecond) {
		return
	}
	p.lastDraw = now
	p.draw(u, now, all)
	if all {
		p.finished = true
		fmt.Fprintln(p.w)
	}
}

func (p *printer) allDone() bool {
	for _, f := range p.files {
		if !f.Done {
			return false
		}
	}
	return true
}

func (p *printer) draw(u Progress, now time.Time, all bool) {
	var bytes, total int64
	done := 0
	for _, f := range p.files {
		bytes += f.Bytes
		total += f.Total
		if f.Done {
			done++
		}
	}
	speed := float64(bytes-p.startB) / max(now.Sub(p.start).Seconds(), 1e-3)
	line := fmt.Sprintf("%s: %d/%d files, %s / %s, %s/s", u.Repo, done, len(p.files), humanBytes(bytes), humanBytes(total), humanBytes(int64(speed)))
	if !all {
		line += "  " + u.File
	}
	// \r returns to the line start; \x1b[K clears what a longer earlier line left.
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
