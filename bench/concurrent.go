package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// benchConcurrent brings -sessions sessions up at once, each to its first
// cell (sena up + sena exec 1+1), against as many bare jupyter_server +
// kernel + cell starts at once. Memory per session is the RSS (and PSS) of
// its server and kernel processes, found by the tag each one inherits,
// read once all are up.
func (h *harness) benchConcurrent(ctx context.Context) error {
	// Warm-up, and the state dir's key is made before 16 processes race for it.
	if _, _, err := h.senaFirstCell(ctx, h.sena, "conc-warmup"); err != nil {
		return err
	}
	var wallS, wallB, rssS, rssB, pssS, pssB, failS, failB []float64
	for round := 0; round < h.scaled(5, 2); round++ {
		for i := range 2 {
			var wall time.Duration
			var mem []memory
			var errs []error
			if (round+i)%2 == 0 {
				wall, mem, errs = h.senaAtOnce(ctx, round)
				failS = append(failS, float64(len(errs)))
				wallS = append(wallS, ms(wall))
				for _, m := range mem {
					rssS, pssS = append(rssS, m.rss), append(pssS, m.pss)
				}
			} else {
				wall, mem, errs = h.bareAtOnce(ctx, round)
				failB = append(failB, float64(len(errs)))
				wallB = append(wallB, ms(wall))
				for _, m := range mem {
					rssB, pssB = append(rssB, m.rss), append(pssB, m.pss)
				}
			}
			if ctx.Err() != nil || len(errs) == h.sessions {
				return errors.Join(errs...)
			}
			for _, err := range errs {
				h.logf("a session failed (counted, left out of memory): %v", err)
			}
			h.sample("%d at once, kind %d: %v; %d failed", h.sessions, (round+i)%2, wall, len(errs))
		}
	}
	base := fmt.Sprintf("%d bare jupyter_server + kernel + cell", h.sessions)
	h.add(&row{metric: fmt.Sprintf("%d sessions at once → all at first cell", h.sessions), unit: "ms", sena: wallS, base: wallB, baseName: base})
	h.add(&row{metric: "sessions that failed to come up, per round", unit: "", sena: failS, base: failB, baseName: base + " (3 tries)"})
	h.add(&row{metric: "memory per session, RSS (server + kernel)", unit: "MiB", sena: rssS, base: rssB, baseName: base})
	h.add(&row{metric: "memory per session, PSS (server + kernel)", unit: "MiB", sena: pssS, base: pssB, baseName: base})
	return nil
}

// senaAtOnce runs sena up + exec for every session in parallel, measures
// them once all are up, and takes them down.
func (h *harness) senaAtOnce(ctx context.Context, round int) (time.Duration, []memory, []error) {
	tags := make([]string, h.sessions)
	ids := make([]string, h.sessions)
	errs := make([]error, h.sessions)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range h.sessions {
		tags[i] = fmt.Sprintf("%sconc-sena-%d-%d", h.tag, round, i)
		wg.Go(func() {
			ph, err := h.sena.up(ctx, tags[i])
			if err == nil {
				ids[i] = ph.id
				err = h.sena.exec(ctx, ph.id, "1+1", "2")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	defer func() {
		var up []string
		for _, id := range ids {
			if id != "" {
				up = append(up, id)
			}
		}
		if len(up) > 0 {
			_ = h.sena.down(up...)
		}
	}()
	return wall, measure(tags, errs), failed(errs)
}

// bareAtOnce starts every bare server, kernel and cell in parallel,
// measures them once all are up, and stops them.
func (h *harness) bareAtOnce(ctx context.Context, round int) (time.Duration, []memory, []error) {
	tags := make([]string, h.sessions)
	servers := make([]*bareServer, h.sessions)
	errs := make([]error, h.sessions)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range h.sessions {
		tags[i] = fmt.Sprintf("%sconc-bare-%d-%d", h.tag, round, i)
		wg.Go(func() {
			s, err := startBare(h.resolved, h.tmp, tags[i])
			if err != nil {
				errs[i] = err
				return
			}
			servers[i] = s
			if err = s.waitReady(ctx); err == nil {
				err = s.firstCell(ctx)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	mem := measure(tags, errs)
	for _, s := range servers {
		if s != nil {
			wg.Go(s.stop)
		}
	}
	wg.Wait()
	return wall, mem, failed(errs)
}

// measure reads the memory of each session that came up.
func measure(tags []string, errs []error) []memory {
	var mem []memory
	for i, t := range tags {
		if errs[i] == nil {
			mem = append(mem, memoryOf(tagged(t, false)))
		}
	}
	return mem
}

// failed is the non-nil errors.
func failed(errs []error) []error {
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
