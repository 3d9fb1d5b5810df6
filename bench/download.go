package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sena-labs/sena/hub"
)

// benchDownload fetches a many-file model from a local Hub (hubtest, in a
// process of its own, on loopback) into a fresh cache, then again from the
// cache: Sena's hub client (in the harness, timed around Download) against
// huggingface_hub's snapshot_download (timed inside Python, after import).
func (h *harness) benchDownload(ctx context.Context) error {
	h.logf("making a %d x %d MiB model for the local hub", h.shards, h.shardMiB)
	l, err := h.startHub(h.shards, h.shardMiB)
	if err != nil {
		return err
	}
	defer l.stop()
	var goT, goCached, pyT, pyCached []float64
	for round := 0; round < h.scaled(3, 3); round++ {
		for i := range 2 {
			cache, err := os.MkdirTemp(h.tmp, "hf-cache-")
			if err != nil {
				return err
			}
			var first, cached float64
			if (round+i)%2 == 0 {
				first, cached, err = goDownload(ctx, l, cache)
				goT, goCached = append(goT, first), append(goCached, cached)
			} else {
				var out struct {
					Seconds       float64 `json:"seconds"`
					CachedSeconds float64 `json:"cached_seconds"`
				}
				_, err = h.python3(ctx, []string{"HF_ENDPOINT=" + l.url, "HF_TOKEN=", "HF_HOME=" + filepath.Join(cache, "home"),
					"HF_HUB_DISABLE_XET=1", "HF_HUB_DISABLE_TELEMETRY=1", "HF_HUB_DISABLE_PROGRESS_BARS=1"},
					&out, "download", "--repo", benchRepo, "--cache", cache)
				first, cached = out.Seconds*1000, out.CachedSeconds*1000
				pyT, pyCached = append(pyT, first), append(pyCached, cached)
			}
			_ = os.RemoveAll(cache)
			if err != nil {
				return err
			}
			h.sample("download client %d: %.0f ms, cached %.1f ms", (round+i)%2, first, cached)
		}
	}
	name := fmt.Sprintf("download %d files, %.2f GB, fresh cache", l.files, float64(l.size)/1e9)
	h.add(&row{metric: name, unit: "ms", sena: goT, base: pyT, baseName: "huggingface_hub snapshot_download", target: "≤ 0.67 (1.5× faster)"})
	h.add(&row{metric: "download, second call (cached)", unit: "ms", sena: goCached, base: pyCached, baseName: "huggingface_hub snapshot_download", target: "< 100 ms"})
	return nil
}

// goDownload runs Sena's client twice on cache and returns both times in ms.
func goDownload(ctx context.Context, l *localHub, cache string) (float64, float64, error) {
	opts := &hub.Options{Endpoint: l.url, CacheDir: cache}
	t0 := time.Now()
	snap, err := hub.NewClient(opts).Download(ctx, benchRepo, "main", nil)
	if err != nil {
		return 0, 0, err
	}
	first := ms(time.Since(t0))
	if snap.BytesDownloaded != l.size {
		return 0, 0, fmt.Errorf("sena downloaded %d bytes, the repo has %d", snap.BytesDownloaded, l.size)
	}
	t0 = time.Now()
	snap, err = hub.NewClient(opts).Download(ctx, benchRepo, "main", nil)
	if err != nil {
		return 0, 0, err
	}
	cached := ms(time.Since(t0))
	if snap.BytesDownloaded != 0 {
		return 0, 0, fmt.Errorf("the cached call downloaded %d bytes", snap.BytesDownloaded)
	}
	return first, cached, nil
}
