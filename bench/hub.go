package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"

	"github.com/sena-labs/sena/hub/hubtest"
)

// benchRepo is the model the download benchmark fetches.
const benchRepo = "bench/sharded-llama"

// localHub is the hub child: a hubtest server in a process of its own, so
// serving costs neither client's process anything.
type localHub struct {
	url   string
	size  int64 // bytes of every file in the repo
	files int
	cmd   *exec.Cmd
	stdin io.Closer
}

// startHub runs the harness as a hub child serving shards files of
// shardMiB random bytes plus configs, and waits until it serves.
func (h *harness) startHub(shards, shardMiB int) (*localHub, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child", "hub", strconv.Itoa(shards), strconv.Itoa(shardMiB))
	cmd.Env = append(os.Environ(), tagVar+"="+h.tag+"hub")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l := &localHub{cmd: cmd, stdin: stdin}
	if _, err := fmt.Fscan(bufio.NewReader(stdout), &l.url, &l.size, &l.files); err != nil {
		l.stop()
		return nil, fmt.Errorf("hub child: %v", err)
	}
	return l, nil
}

// stop closes the child's stdin, which ends it.
func (l *localHub) stop() {
	_ = l.stdin.Close()
	_ = l.cmd.Wait()
}

// serveHub is the "hub" child: args SHARDS SHARD_MIB. It prints "URL SIZE
// FILES" once the repo is served and runs until stdin closes.
func serveHub(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("hub: want SHARDS SHARD_MIB")
	}
	shards, err1 := strconv.Atoi(args[0])
	mib, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("hub: SHARDS and SHARD_MIB are numbers")
	}
	files := shardedModel(shards, mib)
	s := hubtest.Start()
	defer s.Close()
	s.AddRepo(benchRepo, "main", files)
	var size int64
	for _, f := range files {
		size += int64(len(f))
	}
	fmt.Printf("%s %d %d\n", s.URL, size, len(files))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// shardedModel is a repo laid out like a sharded transformers checkpoint:
// config, index and shards of random bytes (never loaded, only moved).
func shardedModel(shards, mib int) map[string][]byte {
	files := map[string][]byte{
		"config.json":            []byte(`{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}`),
		"generation_config.json": []byte(`{"bos_token_id": 1, "eos_token_id": 2}`),
	}
	index := `{"metadata": {}, "weight_map": {`
	for i := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, shards)
		b := make([]byte, mib<<20)
		rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)}).Read(b)
		files[name] = b
		if i > 0 {
			index += ", "
		}
		index += fmt.Sprintf(`"layer.%d": %q`, i, name)
	}
	files["model.safetensors.index.json"] = []byte(index + "}}")
	return files
}
