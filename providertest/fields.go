package providertest

import (
	"fmt"
	"path"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
)

// fieldCheck is how the suite asks for one field and checks inside the
// sandbox that it was honoured.
type fieldCheck struct {
	field  core.Field
	config func(*core.SandboxConfig) // sets the field through the config, nil when no setting reaches it
	spec   func(*core.SandboxSpec)   // sets the field in a spec: for CheckSpec, and where config is nil
	code   string                    // Python whose output shows the field took effect
	want   string
	skip   string // why the check does not run
}

// fieldChecks covers every core.Field.
func (s *suite) fieldChecks(t *testing.T, info *core.ProviderInfo) []fieldCheck {
	marker := "mounted " + randHex(4)
	// Relative to the work dir: every provider that mounts places it there
	// (a host provider with a symlink, a container one as a bind mount).
	mountTarget := "conformance-mount"
	mountDir := hostDir(t, marker)
	pkg := s.o.SystemPackage
	return []fieldCheck{
		{
			field: core.FieldPythonPackages,
			config: func(c *core.SandboxConfig) {
				req, err := s.probe.requirement(s.run0, s.o.PackageHost)
				if err != nil {
					t.Fatal(err)
				}
				c.PythonPackages = append(c.PythonPackages, req)
			},
			spec: func(sp *core.SandboxSpec) { sp.PythonPackages = []string{"sena-conformance-probe"} },
			code: "import sena_conformance_probe as p; print(p.VALUE)", want: probeValue,
		},
		{
			field:  core.FieldSystemPackages,
			config: func(c *core.SandboxConfig) { c.SystemPackages = append(c.SystemPackages, pkg) },
			spec:   func(sp *core.SandboxSpec) { sp.SystemPackages = []string{pkg} },
			code:   fmt.Sprintf("import shutil; print(shutil.which(%q) is not None)", pkg), want: "True",
		},
		{
			field:  core.FieldCPUs,
			config: func(c *core.SandboxConfig) { c.CPUs = 1 },
			spec:   func(sp *core.SandboxSpec) { sp.CPUs = 1 },
			code:   effectiveCPUs, want: "1",
		},
		{
			field:  core.FieldMemory,
			config: func(c *core.SandboxConfig) { c.MemoryMiB = 256 },
			spec:   func(sp *core.SandboxSpec) { sp.MemoryMiB = 256 },
			code:   memoryLimitMiB, want: "256",
		},
		{
			field: core.FieldMounts,
			config: func(c *core.SandboxConfig) {
				c.Mounts = append(c.Mounts, core.MountConfig{Source: mountDir, Target: mountTarget})
			},
			spec: func(sp *core.SandboxSpec) {
				sp.Mounts = append(sp.Mounts, core.Mount{Source: mountDir, Target: mountTarget})
			},
			code: fmt.Sprintf("print(open(%q).read())", path.Join(mountTarget, "marker.txt")), want: marker,
		},
		{
			field: core.FieldFiles,
			config: func(c *core.SandboxConfig) {
				c.Workspace.Libraries = append(c.Workspace.Libraries, core.Library{Name: "conformance_probe.py", Code: probeSource})
			},
			spec: func(sp *core.SandboxSpec) {
				sp.Files = map[string][]byte{"lib/conformance_probe.py": []byte(probeSource)}
			},
			code: "print(open('lib/conformance_probe.py').read(), end='')", want: "WHO = 'sena conformance'",
		},
		{
			field: core.FieldImage,
			config: func(c *core.SandboxConfig) {
				if c.Image == "" {
					c.Image = "sena-conformance-image"
				}
			},
			spec: func(sp *core.SandboxSpec) { sp.Image = "sena-conformance-image" },
			code: s.o.ImageCheck.Code, want: s.o.ImageCheck.Want,
			skip: skipIf(s.o.ImageCheck.Code == "", "Options.ImageCheck is empty: give code whose output shows the sandbox runs Options.Config's image"),
		},
		{
			field: core.FieldModels,
			config: func(c *core.SandboxConfig) {
				m := s.o.Model
				if m.Name == "" {
					m.Name = "sena-test/conformance" // enough to be refused
				}
				c.Models = append(c.Models, m)
			},
			spec: func(sp *core.SandboxSpec) { sp.Models = []core.ModelConfig{{Name: "sena-test/none"}} },
			code: fmt.Sprintf("import os; print(os.path.isdir(os.environ[%q]))", core.ModelEnvVar(s.o.Model.Name)), want: "True",
			skip: skipIf(s.o.Model.Name == "", "Options.Model is empty: name a model the backend can fetch"),
		},
		{
			field:  core.FieldTimeout,
			config: func(c *core.SandboxConfig) { c.Timeout = core.Duration(time.Hour) },
			spec:   func(sp *core.SandboxSpec) { sp.Timeout = time.Hour },
			skip:   "checked by Lifetime/Timeout",
		},
		{
			field:  core.FieldIdleTimeout,
			config: func(c *core.SandboxConfig) { c.IdleTimeout = core.Duration(time.Hour) },
			spec:   func(sp *core.SandboxSpec) { sp.IdleTimeout = time.Hour },
			skip:   "checked by Lifetime/IdleTimeout",
		},
	}
}

// effectiveCPUs prints how many CPUs the sandbox may use: the affinity
// mask, bounded by a cgroup CPU quota (v2 cpu.max or v1 cfs).
const effectiveCPUs = `import os, math
n = len(os.sched_getaffinity(0))
q = None
try:
    quota, period = open('/sys/fs/cgroup/cpu.max').read().split()
    q = None if quota == 'max' else int(quota) / int(period)
except OSError:
    try:
        quota = int(open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read())
        q = None if quota < 0 else quota / int(open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read())
    except OSError:
        pass
print(n if q is None else min(n, math.ceil(q)))`

// memoryLimitMiB prints the sandbox's cgroup memory limit in MiB.
const memoryLimitMiB = `v = None
for p in ('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'):
    try:
        v = open(p).read().strip(); break
    except OSError:
        pass
print('none' if v in (None, 'max') else int(v) // (1 << 20))`

func skipIf(cond bool, why string) string {
	if cond {
		return why
	}
	return ""
}
