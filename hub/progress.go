package hub

import (
	"sync"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/humanize"
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

// reporter serialises calls to the user's callbacks: the per-file one of
// Options.Progress and the per-download one of DownloadOptions.Progress.
type reporter struct {
	mu    sync.Mutex
	fn    func(Progress)
	step  func(core.Progress)
	files map[string]Progress
}

func (r *reporter) report(p Progress) { r.send(p, true) }

// start reports every file's state before the transfers, and the step's
// total once, with all of them counted.
func (r *reporter) start(files []Progress) {
	for i, p := range files {
		r.send(p, i == len(files)-1)
	}
}

// reportCached tells only the per-file callback: a cached snapshot's one
// step report is finish's "cached".
func (r *reporter) reportCached(p Progress) { r.send(p, false) }

func (r *reporter) send(p Progress, step bool) {
	if r == nil || r.fn == nil && r.step == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fn != nil {
		r.fn(p)
	}
	if r.step == nil {
		return
	}
	if r.files == nil {
		r.files = map[string]Progress{}
	}
	r.files[p.File] = p
	if !step {
		return
	}
	var bytes, total int64
	for _, f := range r.files {
		bytes += f.Bytes
		total += f.Total
	}
	r.step(core.Progress{Step: StepName(p.Repo), Message: p.File, Done: bytes, Total: total, Unit: core.UnitBytes})
}

// finish sends a download's last report: "cached" when nothing came over
// the network, as a cached model is announced once.
func (r *reporter) finish(s *Snapshot) {
	if r == nil || r.step == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var total int64
	for _, f := range r.files {
		total += f.Total
	}
	msg := "cached"
	if s.BytesDownloaded > 0 {
		msg = "downloaded " + humanize.Bytes(s.BytesDownloaded)
	}
	r.step(core.Progress{Step: StepName(s.Repo), Message: msg, Done: total, Total: total, Unit: core.UnitBytes, Finished: true})
}

// StepName is the core.Progress Step of a model's download.
func StepName(repo string) string { return "model " + repo }
