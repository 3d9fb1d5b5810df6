package main

import (
	"context"
	"fmt"
	"time"
)

// benchUp times `sena up` plus `sena exec ID 1+1` (two processes of the real
// binary, the way a user or agent runs them) against the floor: the harness
// starting jupyter_server itself with the same flags, a kernel through
// POST /api/kernels and the same cell over the kernel websocket. Sena runs
// twice per round: with -python as given (a pyenv shim, say) and with the
// interpreter it resolves to. Round 0 is a warm-up; the order rotates.
func (h *harness) benchUp(ctx context.Context) error {
	senaGiven := &senaCLI{bin: h.sena.bin, stateDir: h.sena.stateDir, python: h.python}
	senaResolved := &senaCLI{bin: h.sena.bin, stateDir: h.sena.stateDir, python: h.resolved}
	var given, resolved, floor []float64
	var cliStart, check, server, kernelUp, exec []float64
	var fServer, fKernel []float64
	var sServer, sKernel []float64
	for round := 0; round <= h.runs; round++ {
		for i := range 3 {
			var err error
			switch (round + i) % 3 {
			case 0:
				var ph *upPhases
				var execT time.Duration
				if ph, execT, err = h.senaFirstCell(ctx, senaGiven, fmt.Sprintf("up-given-%d", round)); err == nil && round > 0 {
					given = append(given, ms(ph.done+execT))
					cliStart = append(cliStart, ms(ph.creating))
					check = append(check, ms(ph.starting-ph.creating))
					server = append(server, ms(ph.waiting-ph.starting))
					kernelUp = append(kernelUp, ms(ph.done-ph.waiting))
					exec = append(exec, ms(execT))
					sServer = append(sServer, ms(ph.waiting-ph.starting))
					sKernel = append(sKernel, ms(ph.done-ph.waiting+execT))
					h.sample("sena up+exec (%s): %v (phases %v %v %v %v, exec %v)", h.python, ph.done+execT,
						ph.creating, ph.starting-ph.creating, ph.waiting-ph.starting, ph.done-ph.waiting, execT)
				}
			case 1:
				var ph *upPhases
				var execT time.Duration
				if ph, execT, err = h.senaFirstCell(ctx, senaResolved, fmt.Sprintf("up-resolved-%d", round)); err == nil && round > 0 {
					resolved = append(resolved, ms(ph.done+execT))
					h.sample("sena up+exec (%s): %v", h.resolved, ph.done+execT)
				}
			case 2:
				var f *floorTimes
				if f, err = h.floorFirstCell(ctx, fmt.Sprintf("up-floor-%d", round)); err == nil && round > 0 {
					floor = append(floor, ms(f.total()))
					fServer = append(fServer, ms(f.server))
					fKernel = append(fKernel, ms(f.kernel+f.cell))
					h.sample("floor: %v (server %v, kernel %v, cell %v)", f.total(), f.server, f.kernel, f.cell)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	h.add(&row{metric: "up → first cell, `--python " + h.python + "`", unit: "ms", sena: given, base: floor,
		baseName: "jupyter_server + kernel + cell, direct", target: "< 1500 ms"})
	h.add(&row{metric: "up → first cell, `--python " + h.resolved + "`", unit: "ms", sena: resolved, base: floor,
		baseName: "same floor", target: "< 1500 ms"})
	h.add(&row{metric: "· phase: jupyter_server start → answers", unit: "ms", sena: sServer, base: fServer, baseName: "floor: same (10 ms polling)"})
	h.add(&row{metric: "· phase: kernel start → first cell done", unit: "ms", sena: sKernel, base: fKernel, baseName: "floor: POST /api/kernels + cell"})
	h.add(&row{metric: "· · sena up until it creates (CLI, state, provider info)", unit: "ms", sena: cliStart})
	h.add(&row{metric: "· · sena up: interpreter check (`import jupyter_server, ipykernel`)", unit: "ms", sena: check})
	h.add(&row{metric: "· · sena up: rest (kernel, connect, notebook, init)", unit: "ms", sena: kernelUp})
	h.add(&row{metric: "· · sena exec 1+1 (a process: attach, run, save notebook)", unit: "ms", sena: exec})
	return nil
}

// senaFirstCell brings a session up, runs 1+1 in it and takes it down; only
// up and exec are timed.
func (h *harness) senaFirstCell(ctx context.Context, s *senaCLI, tag string) (*upPhases, time.Duration, error) {
	ph, err := s.up(ctx, h.tag+tag)
	if err != nil {
		return nil, 0, err
	}
	defer s.down(ph.id)
	t0 := time.Now()
	if err := s.exec(ctx, ph.id, "1+1", "2"); err != nil {
		return nil, 0, err
	}
	return ph, time.Since(t0), nil
}

// floorTimes are the floor's phases.
type floorTimes struct{ server, kernel, cell time.Duration }

func (f *floorTimes) total() time.Duration { return f.server + f.kernel + f.cell }

// floorFirstCell starts a bare server, a kernel and runs 1+1, then stops it.
func (h *harness) floorFirstCell(ctx context.Context, tag string) (*floorTimes, error) {
	t0 := time.Now()
	s, err := startBare(h.resolved, h.tmp, h.tag+tag)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	f := &floorTimes{}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	t1 := time.Now()
	f.server = t1.Sub(t0)
	id, err := s.startKernel(ctx)
	if err != nil {
		return nil, err
	}
	t2 := time.Now()
	f.kernel = t2.Sub(t1)
	if err := s.wsExec(ctx, id, "1+1"); err != nil {
		return nil, err
	}
	f.cell = time.Since(t2)
	return f, nil
}

// sample logs one measurement with -v.
func (h *harness) sample(format string, args ...any) {
	if h.verbose {
		h.logf(format, args...)
	}
}
