package mcp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/session"
)

// KernelResult is interrupt_kernel's and restart_kernel's result.
type KernelResult struct {
	SessionID string `json:"session_id"`
	Done      string `json:"done"`
}

// VariablesInput is list_variables' arguments.
type VariablesInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Name      string `json:"name,omitempty" jsonschema:"describe only this variable; default: all of them (modules and names starting with _ are left out)"`
}

// DescribeModelInput is describe_model's arguments.
type DescribeModelInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Variable  string `json:"variable,omitempty" jsonschema:"the torch module to describe: a variable, or a dotted path into one such as model.model.layers.0; default model"`
	Tokenizer string `json:"tokenizer,omitempty" jsonschema:"the tokenizer variable to describe with it; default: tokenizer, or the only tokenizer in the kernel"`
	Depth     int    `json:"depth,omitempty" jsonschema:"levels of the module tree to show; default 4"`
}

// InstallInput is install_packages' arguments.
type InstallInput struct {
	SessionID    string   `json:"session_id" jsonschema:"the session id"`
	Requirements []string `json:"requirements" jsonschema:"pip requirements: names, name==version, or paths or URLs of wheels inside the sandbox"`
	Timeout      float64  `json:"timeout,omitempty" jsonschema:"seconds pip may take; default 600"`
}

func (s *Server) addKernelTools() {
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "interrupt_kernel", Description: "Interrupt the code running in the session's kernel (like Ctrl-C): " +
		"the running execute_code call returns its partial output with status interrupted. The kernel and its variables are kept."}, s.interrupt)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "restart_kernel", Description: "Restart the session's kernel: every variable and import is lost " +
		"(re-run your setup code), the notebook is kept. Use it when a cell cannot be interrupted or the kernel is in a bad state."}, s.restart)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "list_variables", Description: "List the kernel's variables without printing them or adding a cell: name and type; " +
		"for tensors and arrays shape, dtype, device, bytes, min/max/mean/std and the first values; for modules class and parameter count."}, s.listVariables)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "gpu_status", Description: "The sandbox's GPUs (name, memory used/total, utilisation), the kernel's torch memory (allocated/reserved) and the host's memory, " +
		"without adding a cell. Says so plainly when the sandbox has no GPU."}, s.gpuStatus)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "describe_model", Description: "Describe a torch model in the kernel in a few hundred tokens, without adding a cell: " +
		"its module tree with repeated blocks folded (layers.0-31: LlamaDecoderLayer ×32), parameter counts, dtypes, devices, the config's key facts, " +
		"the tokenizer's special tokens and chat template, and the hook points (decoder layers, final norm, unembedding) the toolkit skills use."}, s.describeModel)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "install_packages", Description: "pip-install packages into the running kernel's environment (a per-session environment on top of the kernel's own, " +
		"importable at once and after restarts), with pip's output streamed as progress and recorded in the notebook's metadata. " +
		"Modules imported before keep their old code until restart_kernel. Refused, with the reason, where the environment is not Sena's to change."}, s.installPackages)
}

func (s *Server) interrupt(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *KernelResult, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	if err := live.Interrupt(ctx); err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	return structured(&KernelResult{SessionID: in.SessionID, Done: "interrupt sent; a running cell stops with KeyboardInterrupt"})
}

func (s *Server) restart(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *KernelResult, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	if err := live.Restart(ctx); err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	live.Notice(ctx) // this result says it
	return structured(&KernelResult{SessionID: in.SessionID, Done: "kernel restarted: its variables are gone, the notebook is kept"})
}

// quietCall runs a kernel-state tool: the notice of a restart first, then
// the text the tool renders.
func (s *Server) quietCall(ctx context.Context, id string, do func(*session.Session) (string, error)) (*sdk.CallToolResult, any, error) {
	live, err := s.pool.get(ctx, id)
	if err != nil {
		return nil, nil, s.agentError(id, err)
	}
	notice := live.Notice(ctx)
	text, err := do(live)
	if notice != "" {
		text = "[note: " + notice + "]\n" + text
	}
	if err != nil {
		if notice != "" {
			return nil, nil, fmt.Errorf("%w\n[note: %s]", s.agentError(id, err), notice)
		}
		return nil, nil, s.agentError(id, err)
	}
	return textResult(text), nil, nil
}

func (s *Server) listVariables(ctx context.Context, _ *sdk.CallToolRequest, in VariablesInput) (*sdk.CallToolResult, any, error) {
	return s.quietCall(ctx, in.SessionID, func(live *session.Session) (string, error) {
		v, err := live.ListVariables(ctx, in.Name, 200)
		if err != nil {
			return "", err
		}
		return clip(renderVariables(v), s.opts.TextBudget, "list_variables with name shows one"), nil
	})
}

func renderVariables(v *session.Variables) string {
	var b strings.Builder
	if len(v.Variables) == 0 {
		b.WriteString("no variables in the kernel")
	}
	for _, x := range v.Variables {
		fmt.Fprintf(&b, "%s: %s", x.Name, x.Type)
		switch {
		case x.Class != "":
			fmt.Fprintf(&b, " %s params on %s, %s", count(x.Parameters), x.Device, x.Dtype)
			if x.Training != nil && *x.Training {
				b.WriteString(", train mode")
			}
		case x.Shape != nil || x.Dtype != "":
			fmt.Fprintf(&b, " shape=%v %s %s %s", x.Shape, x.Dtype, x.Device, bytesize(x.Bytes))
			if x.RequiresGrad {
				b.WriteString(" requires_grad")
			}
			if x.Min != nil {
				fmt.Fprintf(&b, " min=%s max=%s mean=%s", num(x.Min), num(x.Max), num(x.Mean))
				if x.Std != nil {
					fmt.Fprintf(&b, " std=%s", num(x.Std))
				}
				if x.Sampled > 0 {
					fmt.Fprintf(&b, " (mean/std of %d sampled values)", x.Sampled)
				}
			}
			if len(x.Values) > 0 {
				fmt.Fprintf(&b, " first=%v", x.Values)
			}
		case x.Summary != "":
			b.WriteString(" " + x.Summary)
		}
		b.WriteByte('\n')
	}
	if v.Modules > 0 {
		fmt.Fprintf(&b, "(%d imported modules not listed)\n", v.Modules)
	}
	if v.More > 0 {
		fmt.Fprintf(&b, "(%d more variables not listed: list_variables with name shows one)\n", v.More)
	}
	return b.String()
}

func num(f *float64) string { return fmt.Sprintf("%.4g", *f) }

func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.3gK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.3gGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.3gMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.3gKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func (s *Server) gpuStatus(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, any, error) {
	return s.quietCall(ctx, in.SessionID, func(live *session.Session) (string, error) {
		g, err := live.GPUStatus(ctx)
		if err != nil {
			return "", err
		}
		return renderGPU(g, live.Config.GPU), nil
	})
}

func renderGPU(g *session.GPUStatus, asked string) string {
	var b strings.Builder
	switch {
	case len(g.GPUs) == 0 && asked == "":
		b.WriteString("no GPU: this is a CPU-only sandbox (start a session with gpu, such as A100 or H100, for one)\n")
	case len(g.GPUs) == 0:
		fmt.Fprintf(&b, "no GPU visible, though the session asked for %s (nvidia-smi: %s)\n", asked, g.NvidiaSMI)
	default:
		for _, x := range g.GPUs {
			fmt.Fprintf(&b, "GPU %d: %s, memory %s/%s MiB used, utilisation %s%%\n", x.Index, x.Name, opt(x.MemoryUsedMiB), opt(x.MemoryTotalMiB), opt(x.UtilizationPct))
		}
		if asked == "" {
			b.WriteString("(the session asked for no GPU, but its provider does not hide the host's GPUs)\n")
		}
	}
	switch t := g.Torch.(type) {
	case string:
		b.WriteString("torch: " + t + "\n")
	case []any:
		for _, d := range t {
			m, _ := d.(map[string]any)
			fmt.Fprintf(&b, "torch cuda:%v: allocated %v MiB, reserved %v MiB, peak allocated %v MiB", m["index"], m["allocated_mib"], m["reserved_mib"], m["max_allocated_mib"])
			if m["free_mib"] != nil {
				fmt.Fprintf(&b, ", free %v of %v MiB", m["free_mib"], m["total_mib"])
			}
			b.WriteByte('\n')
		}
	}
	h := g.Host
	fmt.Fprintf(&b, "host memory: %d MiB available of %d MiB; the kernel uses %d MiB", h.AvailableMiB, h.TotalMiB, h.KernelRSSMiB)
	if h.LimitMiB != nil {
		fmt.Fprintf(&b, "; the sandbox's limit is %d MiB", *h.LimitMiB)
	}
	b.WriteByte('\n')
	return b.String()
}

func opt(v *int64) string {
	if v == nil {
		return "?"
	}
	return fmt.Sprint(*v)
}

func (s *Server) describeModel(ctx context.Context, _ *sdk.CallToolRequest, in DescribeModelInput) (*sdk.CallToolResult, any, error) {
	v := in.Variable
	if v == "" {
		v = "model"
	}
	return s.quietCall(ctx, in.SessionID, func(live *session.Session) (string, error) {
		text, err := live.DescribeModel(ctx, v, in.Tokenizer, in.Depth)
		return clip(text, s.opts.TextBudget, "describe_model with a smaller depth, or on a submodule, shows less"), err
	})
}

func (s *Server) installPackages(ctx context.Context, req *sdk.CallToolRequest, in InstallInput) (*sdk.CallToolResult, any, error) {
	if in.Timeout < 0 {
		return nil, nil, fmt.Errorf("timeout must be a positive number of seconds")
	}
	timeout := s.opts.ExecTimeout
	if in.Timeout > 0 {
		timeout = time.Duration(in.Timeout * float64(time.Second))
	}
	return s.quietCall(ctx, in.SessionID, func(live *session.Session) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var mu sync.Mutex
		last := "starting pip"
		var log []string
		stop := keepalive(ctx, req, s.opts.ProgressEvery, func(d time.Duration) string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("pip, %s: %s", d.Round(time.Second), last)
		})
		res, err := s.m.InstallPackages(ctx, live, in.Requirements, func(line string) {
			mu.Lock()
			last = line
			log = append(log, line)
			mu.Unlock()
		})
		stop()
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if len(res.Packages) == 0 {
			b.WriteString("[ok] nothing to install: every requirement is already satisfied\n")
		} else {
			fmt.Fprintf(&b, "[ok] installed %s into %s, first on sys.path; recorded in the notebook's metadata (sena.installed_packages)\n", strings.Join(res.Packages, " "), res.Env)
		}
		if len(res.AlreadyImported) > 0 {
			fmt.Fprintf(&b, "already imported before the install, so the kernel still runs their old code until restart_kernel: %s\n", strings.Join(res.AlreadyImported, ", "))
		}
		if len(log) > 8 {
			fmt.Fprintf(&b, "pip (last 8 of %d lines):\n", len(log))
			log = log[len(log)-8:]
		}
		b.WriteString(clip(strings.Join(log, "\n"), s.opts.TextBudget/4, "pip's lines were long"))
		return b.String(), nil
	})
}
