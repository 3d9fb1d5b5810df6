// Package pipprogress turns the output of pip and uv installs into
// core.Progress reports, so that building a Python environment or an image
// shows what it is doing instead of a silent minute. Neither tool prints
// byte counts when its output is not a terminal, so the reports count
// packages and the sizes pip announces.
package pipprogress

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/humanize"
)

// Tracker reads an install's output one line at a time and reports each
// change to its Report func.
type Tracker struct {
	// Step is the Step of every report ("python environment", "image").
	Step   string
	Report func(core.Progress)

	packages  int   // collected or prepared so far
	total     int   // packages to install, once the tool says
	announced int64 // bytes of the downloads pip announced
}

var (
	collecting = regexp.MustCompile(`^(?:Collecting|Processing|Requirement already satisfied:)\s+(\S+)`)
	// pip's "Downloading x.whl (12.3 MB)" and uv's "Downloading torch (200.0MiB)"
	downloading = regexp.MustCompile(`^(?:Downloading|Using cached)\s+(\S+)(?:\s+\(([0-9.]+)\s*([kMGT]?i?B)\))?`)
	installing  = regexp.MustCompile(`^Installing collected packages:\s+(.*)$`)
	uvCount     = regexp.MustCompile(`^(Resolved|Prepared|Installed|Audited) (\d+) packages?`)
	building    = regexp.MustCompile(`^Building wheels? for (?:collected packages: )?(\S+)`)
)

// Line takes one line of pip's or uv's output (stdout and stderr mixed).
func (t *Tracker) Line(line string) {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return
	case uvCount.MatchString(line):
		m := uvCount.FindStringSubmatch(line)
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "Resolved":
			t.total = n
			t.report("resolved " + plural(n, "package"))
		case "Prepared":
			t.packages = n
			t.report("prepared " + plural(n, "package"))
		default:
			t.packages, t.total = n, n
			t.report(strings.ToLower(m[1]) + " " + plural(n, "package"))
		}
	case collecting.MatchString(line):
		t.packages++
		t.report("collecting " + shortName(collecting.FindStringSubmatch(line)[1]))
	case downloading.MatchString(line):
		m := downloading.FindStringSubmatch(line)
		msg := "downloading " + shortName(m[1])
		if m[2] != "" {
			if !strings.HasSuffix(m[1], ".metadata") {
				t.announced += parseSize(m[2], m[3])
			}
			msg += fmt.Sprintf(" (%s %s)", m[2], m[3])
		}
		t.report(msg)
	case building.MatchString(line):
		t.report("building " + building.FindStringSubmatch(line)[1])
	case installing.MatchString(line):
		names := strings.Split(installing.FindStringSubmatch(line)[1], ",")
		t.total = len(names)
		t.report("installing " + plural(len(names), "package"))
	case strings.HasPrefix(line, "Successfully installed"):
		t.packages = max(t.packages, t.total)
		t.report("installed " + plural(len(strings.Fields(line))-2, "package"))
	}
}

func (t *Tracker) report(msg string) {
	if t.Report == nil {
		return
	}
	if t.announced > 0 {
		msg += fmt.Sprintf(" · %s downloaded", humanize.Bytes(t.announced))
	}
	p := core.Progress{Step: t.Step, Message: msg, Done: int64(t.packages), Unit: "packages"}
	if t.total > 0 {
		p.Total = int64(t.total)
		p.Done = min(p.Done, p.Total)
	}
	t.Report(p)
}

// shortName drops the path or URL in front of a wheel or archive.
func shortName(s string) string {
	if i := strings.LastIndexAny(s, "/\\"); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// parseSize reads sizes as pip ("12.3 MB", "1.2 kB") and uv ("200.0MiB") print them.
func parseSize(num, unit string) int64 {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	mult := map[string]float64{
		"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "kiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}[unit]
	return int64(f * mult)
}
