package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/notebook"
)

// Resumed is what `up --resume` re-ran of a notebook: Ran code cells of
// Cells, in order; when one raised, Failed is its number (1-based, among the
// code cells) and Error its exception. The session is up either way: the
// researcher picks up from the cell that failed.
type Resumed struct {
	From   string `json:"from"`
	Cells  int    `json:"cells"`
	Ran    int    `json:"ran"`
	Failed int    `json:"failed,omitempty"`
	Error  string `json:"error,omitempty"`
}

// readSourceNotebook reads the notebook --resume or --continue names, before
// anything is created: a missing or malformed one is refused up front.
func readSourceNotebook(cfg *core.SandboxConfig) (*notebook.Notebook, string, error) {
	name, what := cfg.Resume, "resume"
	if name == "" {
		name, what = cfg.Continue, "continue"
	}
	if name == "" {
		return nil, "", nil
	}
	p, err := filepath.Abs(expandHome(name))
	if err != nil {
		return nil, "", core.Errorf(core.ErrInvalidConfig, "%s %s: %v", what, name, err)
	}
	nb, err := notebook.ReadFile(p)
	if err != nil {
		return nil, "", core.Errorf(core.ErrInvalidConfig, "%s: %v (give a .ipynb on this machine, such as one `sena notebook` saved)", what, err)
	}
	return nb, p, nil
}

// continuedNotebook is the notebook a --continue session starts with: the
// given one's cells and outputs, kept, with the new kernel's metadata.
func continuedNotebook(src *notebook.Notebook) *notebook.Notebook {
	nb := notebook.New()
	for k, v := range src.Metadata {
		if k != "sena" { // the new session writes its own manifest
			nb.Metadata[k] = v
		}
	}
	nb.Cells = src.Cells
	return nb
}

// resume re-runs src's cells in the session, in order: markdown cells are
// copied, code cells run (and land in the notebook with their new outputs),
// until one raises. A transport error, or a kernel that dies, fails up.
func resume(ctx context.Context, s *Session, src *notebook.Notebook, from string, progress func(string, ...any)) (*Resumed, error) {
	r := &Resumed{From: from}
	for _, c := range src.Cells {
		if c.Type == notebook.CodeCell && strings.TrimSpace(c.Source) != "" {
			r.Cells++
		}
	}
	for _, c := range src.Cells {
		switch {
		case c.Type == notebook.MarkdownCell:
			if _, err := s.AddMarkdown(ctx, c.Source); err != nil {
				return nil, err
			}
			continue
		case c.Type != notebook.CodeCell || strings.TrimSpace(c.Source) == "":
			continue
		}
		progress("resuming %s: cell %d of %d", filepath.Base(from), r.Ran+1, r.Cells)
		ex, err := s.Execute(ctx, c.Source, nil)
		if err != nil {
			if errors.Is(err, core.ErrInvalidConfig) { // not UTF-8: a cell that cannot run
				r.Failed, r.Error = r.Ran+1, err.Error()
				return r, nil
			}
			return nil, fmt.Errorf("resume %s at code cell %d: %w", from, r.Ran+1, err)
		}
		if ex.Result.Status != "ok" {
			r.Failed, r.Error = r.Ran+1, strings.TrimSpace(ex.Result.EName+": "+ex.Result.EValue)
			return r, nil
		}
		r.Ran++
	}
	return r, nil
}
