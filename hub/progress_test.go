package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestDownloadReportsProgress(t *testing.T) {
	s, files, _ := serveTiny(t)
	var events []Progress
	c := newClient(t, s, t.TempDir(), &Options{Progress: func(p Progress) { events = append(events, p) }})
	snap, err := c.Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]Progress{}
	for _, e := range events {
		prev, seen := last[e.File]
		if e.Repo != tiny || e.Total != int64(len(files[e.File])) || e.Bytes > e.Total || (seen && (prev.Done || e.Bytes < prev.Bytes)) {
			t.Fatalf("bad event %+v after %+v", e, prev)
		}
		last[e.File] = e
	}
	for _, f := range snap.Files {
		if !last[f].Done || last[f].Bytes != last[f].Total {
			t.Fatalf("%s: last event %+v, want Done with every byte", f, last[f])
		}
	}
	if len(last) != len(snap.Files) {
		t.Fatalf("events for %d files, snapshot has %d", len(last), len(snap.Files))
	}
}

func TestProgressPrinter(t *testing.T) {
	updates := []Progress{
		{Repo: "o/m", File: "a", Total: 2000},
		{Repo: "o/m", File: "b", Total: 10},
		{Repo: "o/m", File: "a", Bytes: 1000, Total: 2000},
		{Repo: "o/m", File: "b", Bytes: 10, Total: 10, Done: true},
		{Repo: "o/m", File: "a", Bytes: 2000, Total: 2000, Done: true},
	}

	var js strings.Builder
	pj := ProgressPrinter(&js, true)
	for _, u := range updates {
		pj(u)
	}
	var got []Progress
	sc := bufio.NewScanner(strings.NewReader(js.String()))
	for sc.Scan() {
		var p Progress
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		got = append(got, p)
	}
	// Throttled: the first report of each file, then each Done; the mid-transfer update of a comes too soon.
	if len(got) != 4 || got[2] != updates[3] || got[3] != updates[4] {
		t.Fatalf("JSON lines %+v", got)
	}

	var term strings.Builder
	pt := ProgressPrinter(&term, false)
	for _, u := range updates {
		pt(u)
	}
	out := term.String()
	frames := strings.Split(out, "\r")
	final := frames[len(frames)-1]
	if !strings.HasPrefix(final, "o/m: 2/2 files, 2.0 kB / 2.0 kB, ") || !strings.HasSuffix(final, "\x1b[K\n") {
		t.Fatalf("last frame %q, want 2/2 files and 2.0 kB, ending the line", final)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("terminal output %q: want one line, redrawn with \\r", out)
	}
}
