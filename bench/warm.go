package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sena-labs/sena/hub/hubtest"
)

// tinyRepo is the model the warm benchmark loads: hubtest's tiny random
// Llama, which transformers loads on a CPU in well under a second, so the
// waiting around it (imports, Jupyter, the kernel) is what is measured.
const tinyRepo = "bench/tiny-llama"

// modelCell is "the model answers": a forward pass on the preloaded model.
const modelCell = `import torch; print(model(torch.tensor([[1, 2, 3]])).logits.shape[:2] == (1, 3))`

// benchWarm times a session from a warm pool (`sena warm`, then `sena up`
// with the same flags) against a cold `sena up`, in the same run,
// alternating: up → first cell with no model, and up --preload → the
// model answering a forward pass (the model cached, so no download in
// either). Each is `sena up` then `sena exec`, two processes of the real
// binary; between warm rounds the keeper's refill is waited for, untimed.
func (h *harness) benchWarm(ctx context.Context) error {
	hub := hubtest.Start()
	defer hub.Close()
	hub.AddRepo(tinyRepo, "main", hubtest.TinyLlama())
	for k, v := range map[string]string{"HF_ENDPOINT": hub.URL, "HF_HUB_CACHE": h.tmp + "/hf-cache", "HF_TOKEN": ""} {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	s := &senaCLI{bin: h.sena.bin, stateDir: h.sena.stateDir, python: h.resolved}
	defer s.down()
	if out, err := s.command(ctx, "", "pull", tinyRepo).CombinedOutput(); err != nil {
		return fmt.Errorf("sena pull: %v: %s", err, out)
	}
	kinds := []struct {
		name  string
		flags []string
		cell  string
		want  string
	}{
		{"first cell", nil, "1+1", "2"},
		{"model", []string{"--model", tinyRepo, "--preload"}, modelCell, "True"},
	}
	for _, k := range kinds {
		args := append([]string{"--json", "warm", "--python", s.python, "--timeout", "30m"}, k.flags...)
		if out, err := s.command(ctx, h.tag+"warm", args...).Output(); err != nil {
			return fmt.Errorf("sena warm %v: %v: %s", k.flags, err, out)
		}
	}
	type series struct{ cold, warm, handover []float64 }
	got := make([]series, len(kinds))
	for round := 0; round <= h.runs; round++ {
		for i, k := range kinds {
			for j := range 2 {
				warm := (round+j)%2 == 0
				if warm {
					if err := s.waitWarm(ctx, k.flags); err != nil {
						return err
					}
				}
				flags := k.flags
				if !warm {
					// A timeout past the pool's lifetime: no warm sandbox matches.
					flags = append([]string{"--timeout", "2h"}, flags...)
				}
				total, handover, fromPool, err := s.timeToCell(ctx, h.tag+"warm-bench", flags, k.cell, k.want)
				if err != nil {
					return err
				}
				if fromPool != warm {
					return fmt.Errorf("%s: from_pool %v, want %v", k.name, fromPool, warm)
				}
				if round == 0 {
					continue // warm-up
				}
				if warm {
					got[i].warm = append(got[i].warm, ms(total))
					got[i].handover = append(got[i].handover, handover*1000)
				} else {
					got[i].cold = append(got[i].cold, ms(total))
				}
				h.sample("%s warm=%v: %v (up's phases end at %.3fs)", k.name, warm, total, handover)
			}
		}
	}
	h.add(&row{metric: "warm: up → first cell (`sena up` + `sena exec 1+1`)", unit: "ms", sena: got[0].warm, base: got[0].cold,
		baseName: "cold `sena up` (same, --timeout 2h: no pool matches)", target: "≤ 150 ms median"})
	h.add(&row{metric: "· warm: up's handover (its phases)", unit: "ms", sena: got[0].handover})
	h.add(&row{metric: "warm: up --preload → tiny model answers (up + exec forward)", unit: "ms", sena: got[1].warm, base: got[1].cold,
		baseName: "cold `sena up --preload`, model cached", target: "warm/cold ≤ 0.25"})
	h.add(&row{metric: "· warm: up's handover (its phases)", unit: "ms", sena: got[1].handover})
	return nil
}

// timeToCell runs `sena up` with flags, then `sena exec` of cell, checks
// it printed want, takes the session down, and returns the time from up's
// start to the cell's end, when up's last phase ended (seconds) and whether
// it came from a pool.
func (s *senaCLI) timeToCell(ctx context.Context, tag string, flags []string, cell, want string) (time.Duration, float64, bool, error) {
	t0 := time.Now()
	out, err := s.command(ctx, tag, append([]string{"--json", "up", "--python", s.python}, flags...)...).Output()
	if err != nil {
		return 0, 0, false, fmt.Errorf("sena up %v: %v", flags, err)
	}
	var u struct {
		SessionID string `json:"session_id"`
		FromPool  bool   `json:"from_pool"`
		Phases    []struct {
			Seconds float64 `json:"seconds"`
		} `json:"phases"`
	}
	if err := json.Unmarshal(out, &u); err != nil {
		return 0, 0, false, fmt.Errorf("sena up printed %q", out)
	}
	defer s.down(u.SessionID)
	if err := s.exec(ctx, u.SessionID, cell, want); err != nil {
		return 0, 0, false, err
	}
	total := time.Since(t0)
	last := 0.0
	if n := len(u.Phases); n > 0 {
		last = u.Phases[n-1].Seconds
	}
	return total, last, u.FromPool, nil
}

// waitWarm waits until the pool of flags has a warm sandbox again.
func (s *senaCLI) waitWarm(ctx context.Context, flags []string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := s.command(ctx, "", "--json", "ls").Output()
		if err != nil {
			return fmt.Errorf("sena ls: %v", err)
		}
		var rows []struct {
			Models []string `json:"models"`
			Keeper *struct {
				Warm []string `json:"warm"`
			} `json:"keeper"`
		}
		if err := json.Unmarshal(out, &rows); err != nil {
			return err
		}
		for _, r := range rows {
			if r.Keeper != nil && len(r.Keeper.Warm) > 0 && (len(r.Models) > 0) == (len(flags) > 0) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("no warm sandbox %s within 3 minutes", strings.Join(flags, " "))
}
