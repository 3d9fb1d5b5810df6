// Package skills ships Sena's interpretability toolkit as skills: each
// directory holds a SKILL.md (whose description agents see) and Python
// modules a session puts on sys.path (`sena up --skill steering`). A skill
// names the skills it imports in its front matter (requires:), and Sena
// mounts those too.
package skills

import "embed"

// FS holds the built-in skills, one directory each.
//
//go:embed steering activations batch_generation logit_lens activation_patching hf_internals
var FS embed.FS
