package pipprogress

import (
	"testing"

	"github.com/sena-labs/sena/core"
)

func TestTracker(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []core.Progress
	}{
		{"pip", []string{
			"Looking in links: /opt/wheels",
			"Collecting six",
			"  Downloading six-1.17.0-py2.py3-none-any.whl (11 kB)",
			"Collecting torch==2.5.1 (from -r req.txt (line 1))",
			"  Downloading torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl.metadata (28 kB)",
			"  Using cached https://files.example/torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl (906.4 MB)",
			"Installing collected packages: six, torch",
			"Successfully installed six-1.17.0 torch-2.5.1",
		}, []core.Progress{
			{Message: "collecting six", Done: 1},
			{Message: "downloading six-1.17.0-py2.py3-none-any.whl (11 kB) · 11.0 kB downloaded", Done: 1},
			{Message: "collecting torch==2.5.1 · 11.0 kB downloaded", Done: 2},
			{Message: "downloading torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl.metadata (28 kB) · 11.0 kB downloaded", Done: 2},
			{Message: "downloading torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl (906.4 MB) · 906.4 MB downloaded", Done: 2},
			{Message: "installing 2 packages · 906.4 MB downloaded", Done: 2, Total: 2},
			{Message: "installed 2 packages · 906.4 MB downloaded", Done: 2, Total: 2},
		}},
		{"uv", []string{
			"Using CPython 3.11.7 interpreter at: /usr/bin/python3",
			"Resolved 12 packages in 1.23s",
			"Downloading torch (200.0MiB)",
			"Prepared 12 packages in 3.40s",
			"Installed 12 packages in 30ms",
			" + torch==2.5.1",
		}, []core.Progress{
			{Message: "resolved 12 packages", Total: 12},
			{Message: "downloading torch (200.0 MiB) · 209.7 MB downloaded", Total: 12},
			{Message: "prepared 12 packages · 209.7 MB downloaded", Done: 12, Total: 12},
			{Message: "installed 12 packages · 209.7 MB downloaded", Done: 12, Total: 12},
		}},
	}
	for _, tc := range cases {
		var got []core.Progress
		tr := &Tracker{Step: "python environment", Report: func(p core.Progress) { got = append(got, p) }}
		for _, l := range tc.lines {
			tr.Line(l)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d reports, want %d: %+v", tc.name, len(got), len(tc.want), got)
		}
		for i, w := range tc.want {
			w.Step, w.Unit = "python environment", "packages"
			if got[i] != w {
				t.Errorf("%s: report %d = %+v, want %+v", tc.name, i, got[i], w)
			}
		}
	}
}
