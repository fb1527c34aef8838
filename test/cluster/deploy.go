package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DeployWith copies the manifests of deploy/ (dir) into a new directory under tmp with the
// named components turned on, as deploy/kustomization.yaml tells users to (uncomment the
// "components:" line and the component's), and returns that directory, for a server-side dry
// run with `kubectl apply -k`. It fails when the kustomization lacks one of those lines.
func DeployWith(dir, tmp string, components ...string) (string, error) {
	k, err := os.MkdirTemp(tmp, "deploy-")
	if err != nil {
		return "", err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, c := range components {
		if err := os.Mkdir(filepath.Join(k, c), 0o755); err != nil {
			return "", err
		}
		more, _ := filepath.Glob(filepath.Join(dir, c, "*.yaml"))
		files = append(files, more...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, f)
		if rel == "kustomization.yaml" {
			s := string(b)
			for _, line := range append([]string{"components:"}, prefixed("- ", components)...) {
				if !strings.Contains(s, "\n# "+line+"\n") {
					return "", fmt.Errorf("%s lacks the line %q to uncomment", f, "# "+line)
				}
				s = strings.Replace(s, "\n# "+line+"\n", "\n"+line+"\n", 1)
			}
			b = []byte(s)
		}
		if err := os.WriteFile(filepath.Join(k, rel), b, 0o644); err != nil {
			return "", err
		}
	}
	return k, nil
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
