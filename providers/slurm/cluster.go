package slurm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sena-labs/sena/core"
)

// node is one node of one partition, as sinfo reports it.
type node struct {
	Partition string // without the default marker
	Default   bool   // the cluster's default partition
	Name      string
	Addr      string         // NodeAddr: how SLURM reaches it
	GPUs      map[string]int // GRES gpu count by type ("" for untyped)
}

const sinfoFormat = "%P\x1f%N\x1f%G\x1f%o"

// nodes asks the cluster which partitions and nodes it has, with their GPUs.
func nodes(ctx context.Context) ([]node, error) {
	// --all: hidden partitions too, and those of other groups; sbatch
	// refuses what the user may not use, in its own words.
	out, err := run(ctx, "sinfo", "--all", "--noheader", "--Node", "--format="+sinfoFormat)
	if err != nil {
		return nil, fmt.Errorf("slurm: ask the cluster for its partitions: %w", err)
	}
	return parseNodes(out), nil
}

func parseNodes(out string) []node {
	var ns []node
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "\x1f")
		if len(f) != 4 {
			continue
		}
		n := node{Partition: strings.TrimSuffix(f[0], "*"), Default: strings.HasSuffix(f[0], "*"), Name: f[1], Addr: f[3], GPUs: parseGres(f[2])}
		ns = append(ns, n)
	}
	return ns
}

// parseGres reads sinfo's %G ("gpu:a100:2(S:0-1),gpu:v100:1,shard:8",
// "gpu:4", "(null)") into GPU counts by type.
func parseGres(s string) map[string]int {
	gpus := map[string]int{}
	for _, g := range splitGres(s) {
		if i := strings.Index(g, "("); i >= 0 {
			g = g[:i] // socket affinity
		}
		parts := strings.Split(g, ":")
		if len(parts) < 2 || parts[0] != "gpu" {
			continue
		}
		typ, count := "", parts[len(parts)-1]
		if len(parts) >= 3 {
			typ = parts[1]
		}
		if n, err := strconv.Atoi(count); err == nil {
			gpus[typ] += n
		}
	}
	return gpus
}

// splitGres splits on commas outside parentheses ("gpu:a100:2(S:0,1)").
func splitGres(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// partitionNodes are the nodes of the partition a job goes to: the one
// named, or the cluster's default.
func partitionNodes(all []node, partition string) ([]node, error) {
	var names []string
	var out []node
	for _, n := range all {
		if !slices.Contains(names, n.Partition) {
			names = append(names, n.Partition)
		}
		if n.Partition == partition || partition == "" && n.Default {
			out = append(out, n)
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case partition == "":
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: the cluster has no default partition; name one with --provider-option partition=NAME (it has %s)", orNone(names))
	default:
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: the cluster has no partition %q that you can use; it has %s (sinfo lists them)", partition, orNone(names))
	}
}

// gres is the --gres value for g on these nodes, refused when no node of
// the partition has that many GPUs of that kind. gpuType is the option that
// names the cluster's type outright ("any": untyped).
func gres(g core.GPU, gpuType string, ns []node, partition string) (string, error) {
	if g.Kind == "" {
		return "", nil
	}
	where := "the default partition"
	if partition != "" {
		where = "partition " + partition
	}
	perType := map[string]int{} // most GPUs of each type on one node
	total := 0
	for _, n := range ns {
		sum := 0
		for t, c := range n.GPUs {
			perType[t] = max(perType[t], c)
			sum += c
		}
		total = max(total, sum)
	}
	if total == 0 {
		return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s has no GPUs (no node has GRES gpu); drop --gpu, or choose a partition with GPUs (--provider-option partition=NAME)", where)
	}
	if gpuType == "any" {
		if g.Count > total {
			return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s has at most %d GPUs on one node, %d requested", where, total, g.Count)
		}
		return fmt.Sprintf("gpu:%d", g.Count), nil
	}
	typ := gpuType
	if typ == "" {
		var err error
		if typ, err = matchType(g.Kind, perType, where); err != nil {
			return "", err
		}
	} else if _, ok := perType[typ]; !ok {
		return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s has no GPUs of type %q (gpu_type); it has %s", where, typ, describeTypes(perType))
	}
	if g.Count > perType[typ] {
		return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s has at most %d %s GPUs on one node, %d requested", where, perType[typ], typ, g.Count)
	}
	return fmt.Sprintf("gpu:%s:%d", typ, g.Count), nil
}

// matchType finds the cluster's GRES type for one of Sena's GPU kinds: the
// same name ignoring case and punctuation (A100-80GB is a100_80gb), else
// the one type that starts with it (A100 is a100_80g when that is the only
// A100 type).
func matchType(kind string, perType map[string]int, where string) (string, error) {
	want := squash(kind)
	var prefixed []string
	for t := range perType {
		switch {
		case t == "":
		case squash(t) == want:
			return t, nil
		case strings.HasPrefix(squash(t), want):
			prefixed = append(prefixed, t)
		}
	}
	slices.Sort(prefixed)
	switch {
	case len(prefixed) == 1:
		return prefixed[0], nil
	case len(prefixed) > 1:
		return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s has several %s types (%s): choose one with --provider-option gpu_type=TYPE", where, kind, strings.Join(prefixed, ", "))
	}
	if len(perType) == 1 && perType[""] > 0 {
		return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s names no GPU types (its gres.conf has no Type=), so it cannot promise %s GPUs; take any GPU with --provider-option gpu_type=any", where, kind)
	}
	return "", core.Errorf(core.ErrInvalidConfig, "slurm: %s has no %s GPUs; it has %s (set gpu_type if the cluster names %s otherwise)", where, kind, describeTypes(perType), kind)
}

func squash(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func describeTypes(perType map[string]int) string {
	var out []string
	for t, c := range perType {
		if t == "" {
			t = "untyped"
		}
		out = append(out, fmt.Sprintf("%s (up to %d per node)", t, c))
	}
	slices.Sort(out)
	return orNone(out)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// nodeAddr is the address at which this host (or the login host) reaches
// node, by the node_address template.
func nodeAddr(template string, name string, ns []node) string {
	addr := name
	for _, n := range ns {
		if n.Name == name && n.Addr != "" {
			addr = n.Addr
		}
	}
	return strings.NewReplacer("{node}", name, "{addr}", addr).Replace(template)
}
