package hub

import (
	"context"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
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

// DownloadOptions.Progress hears one step for the whole model: bytes rise
// to the total, then one Finished report; a second, cached download is that
// one report, "cached".
func TestDownloadReportsOneStep(t *testing.T) {
	s, files, _ := serveTiny(t)
	c := newClient(t, s, t.TempDir(), nil)
	var steps []core.Progress
	opts := &DownloadOptions{Progress: func(p core.Progress) { steps = append(steps, p) }}
	snap, err := c.Download(context.Background(), tiny, "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range snap.Files {
		total += int64(len(files[f]))
	}
	var last int64
	for i, p := range steps {
		if p.Step != "model "+tiny || p.Unit != core.UnitBytes || p.Done < last || p.Done > p.Total || p.Finished != (i == len(steps)-1) {
			t.Fatalf("report %d: %+v (after %d bytes)", i, p, last)
		}
		last = p.Done
	}
	end := steps[len(steps)-1]
	if len(steps) < 3 || end.Done != total || end.Total != total || !strings.HasPrefix(end.Message, "downloaded ") {
		t.Fatalf("reports %+v; want bytes rising to %d, then a finished \"downloaded\"", steps, total)
	}

	steps = nil
	if _, err := c.Download(context.Background(), tiny, "main", opts); err != nil {
		t.Fatal(err)
	}
	want := core.Progress{Step: "model " + tiny, Message: "cached", Done: total, Total: total, Unit: core.UnitBytes, Finished: true}
	if len(steps) != 1 || steps[0] != want {
		t.Fatalf("cached download reported %+v, want only %+v", steps, want)
	}
}
