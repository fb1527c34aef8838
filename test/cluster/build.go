package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/khist/khist/test/internal/proc"
)

// Names of the files in a binary directory.
const (
	binEtcd       = "etcd"
	binEtcdctl    = "etcdctl"
	binAPIServer  = "kube-apiserver"
	binController = "kube-controller-manager"
	binScheduler  = "kube-scheduler"
	binKubectl    = "kubectl"
	binKwok       = "kwok"
	// kwokStagesFile holds kwok's "general" pod Stages, concatenated from
	// the kwok module source at build time.
	kwokStagesFile = "kwok-pod-general-stages.yaml"
)

// binFiles are the files a complete binary directory holds.
var binFiles = []string{binEtcd, binEtcdctl, binAPIServer, binController, binScheduler, binKubectl, binKwok, kwokStagesFile}

// Environment variables read by EnsureBinaries.
const (
	// EnvBinDir names a directory of ready binaries to use instead of the
	// cache; nothing is built when it is set. It must hold what the cache's
	// bin directory holds: etcd, etcdctl, kube-apiserver,
	// kube-controller-manager, kube-scheduler, kubectl, kwok and
	// kwok-pod-general-stages.yaml.
	EnvBinDir = "KHIST_CLUSTER_BIN_DIR"
	// EnvCacheDir overrides the cache root, by default
	// ${XDG_CACHE_HOME:-$HOME/.cache}/khist/cluster.
	EnvCacheDir = "KHIST_CLUSTER_CACHE_DIR"
)

// CacheDir returns the directory that holds the binaries of the current
// versions and the scratch modules they are built from.
func CacheDir() (string, error) {
	root := os.Getenv(EnvCacheDir)
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: set %s or XDG_CACHE_HOME: %w", EnvCacheDir, err)
		}
		root = filepath.Join(base, "khist", "cluster")
	}
	return filepath.Join(root, cacheKey()), nil
}

// EnsureBinaries returns the directory holding etcd, etcdctl, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl and kwok, building them
// first if the cache lacks them. It needs the go command and the Go module
// proxy; a cold build takes 7 to 15 minutes on 2 cores, 2.4 GB of memory,
// about 1 GB of module cache and 3 GB of build cache. Progress goes to stderr.
//
// Several processes may call it at once: a file lock lets one build while the
// others wait, and the binaries appear in the directory by one atomic rename,
// so a directory that exists is complete.
func EnsureBinaries(ctx context.Context) (binDir string, err error) {
	return ensureBinaries(ctx, os.Stderr)
}

func ensureBinaries(ctx context.Context, log io.Writer) (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if err := checkBinDir(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinDir, dir, err)
		}
		return dir, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(cache, "bin")
	if checkBinDir(binDir) == nil {
		return binDir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	unlock, err := proc.LockFile(ctx, filepath.Join(cache, ".lock"), func() {
		fmt.Fprintf(log, "khist/cluster: waiting for another process building into %s\n", cache)
	})
	if err != nil {
		return "", err
	}
	defer unlock()
	if checkBinDir(binDir) == nil { // built while we waited
		return binDir, nil
	}
	if err := build(ctx, cache, binDir, log); err != nil {
		return "", err
	}
	return binDir, nil
}

// checkBinDir reports whether dir holds every file of a binary directory.
func checkBinDir(dir string) error {
	for _, f := range binFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("incomplete binary directory: %w", err)
		}
	}
	return nil
}

// build builds every binary into a temporary directory beside binDir and
// renames it to binDir. The caller holds the cache lock.
func build(ctx context.Context, cache, binDir string, log io.Writer) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the test control plane needs the go command: %w", err)
	}
	tmp, err := os.MkdirTemp(cache, "bin.tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	start := time.Now()
	fmt.Fprintf(log, "khist/cluster: building Kubernetes %s, etcd %s and kwok %s into %s (cold: 7 to 15 minutes)\n",
		KubernetesVersion, EtcdVersion, KwokVersion, binDir)
	stopTicker := ticker(log, start)
	defer stopTicker()

	etcdMod := filepath.Join(cache, "src", "etcd")
	if err := writeModule(etcdMod, etcdGoMod()); err != nil {
		return err
	}
	if err := goBuild(ctx, goCmd, etcdMod, tmp, []string{"-ldflags", "-s -w"}, log,
		"go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3"); err != nil {
		return err
	}
	// The etcd server package is the module root, so go build names it after
	// the path element before the major version suffix.
	if err := os.Rename(filepath.Join(tmp, "server"), filepath.Join(tmp, binEtcd)); err != nil {
		return err
	}

	k8sMod := filepath.Join(cache, "src", "k8s")
	if err := writeModule(k8sMod, kubernetesGoMod()); err != nil {
		return err
	}
	if err := goBuild(ctx, goCmd, k8sMod, tmp, kubernetesLDFlags(), log,
		"k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler",
		"k8s.io/kubernetes/cmd/kubectl",
		"sigs.k8s.io/kwok/cmd/kwok"); err != nil {
		return err
	}
	if err := writeKwokStages(ctx, goCmd, k8sMod, filepath.Join(tmp, kwokStagesFile)); err != nil {
		return err
	}
	if err := checkBinDir(tmp); err != nil {
		return fmt.Errorf("build finished without every binary: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, binDir); err != nil {
		return fmt.Errorf("install binaries: %w", err)
	}
	fmt.Fprintf(log, "khist/cluster: built the test control plane in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// ticker prints a line every 30 s while a build runs, so a quiet cold build
// does not look stuck; the returned func stops it.
func ticker(log io.Writer, start time.Time) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(log, "khist/cluster: still building (%s)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

// writeModule writes the go.mod of a scratch module, keeping its go.sum.
func writeModule(dir, goMod string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644)
}

// etcdGoMod is the scratch module that builds etcd and etcdctl. etcd 3.5
// needs older gRPC and OpenTelemetry than Kubernetes, so it has its own.
func etcdGoMod() string {
	return "module khist.local/testcluster/etcd\n\ngo 1.23.0\n\nrequire (\n" +
		"\tgo.etcd.io/etcd/server/v3 " + EtcdVersion + "\n" +
		"\tgo.etcd.io/etcd/etcdctl/v3 " + EtcdVersion + "\n)\n"
}

// kubernetesGoMod is the scratch module that builds the Kubernetes binaries
// and kwok (which shares their dependencies and so the compile cache).
func kubernetesGoMod() string {
	var b strings.Builder
	b.WriteString("module khist.local/testcluster/k8s\n\ngo 1.24.0\n\nrequire (\n")
	b.WriteString("\tk8s.io/kubernetes " + KubernetesVersion + "\n")
	b.WriteString("\tsigs.k8s.io/kwok " + KwokVersion + "\n)\n\nreplace (\n")
	for _, m := range stagingModules {
		b.WriteString("\t" + m + " => " + m + " " + stagingVersion + "\n")
	}
	b.WriteString(")\n")
	return b.String()
}

// kubernetesLDFlags stamp the version that the binaries report (without them
// the API server reports v0.0.0-master) and, like every build here, drop the
// symbol table and DWARF data (-s -w), a third of the size; stack traces
// keep their function names.
func kubernetesLDFlags() []string {
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+KubernetesVersion,
			"-X", pkg+".gitMajor="+kubeMajor,
			"-X", pkg+".gitMinor="+kubeMinor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return []string{"-ldflags", strings.Join(flags, " ")}
}

// goEnv is the environment of the go commands run in a scratch module.
func goEnv() []string {
	return append(os.Environ(),
		"GOFLAGS=-mod=mod -buildvcs=false",
		"GOWORK=off",
		"GO111MODULE=on",
		"CGO_ENABLED=0",
	)
}

// goBuild runs go build in module dir for pkgs, writing binaries into out.
func goBuild(ctx context.Context, goCmd, dir, out string, flags []string, log io.Writer, pkgs ...string) error {
	args := append([]string{"build", "-o", out + string(filepath.Separator)}, flags...)
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stderr strings.Builder
	cmd.Stdout = log
	cmd.Stderr = io.MultiWriter(log, &stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (in %s): %w\n%s", strings.Join(pkgs, " "), dir, err, lastLines(stderr.String(), 30))
	}
	return nil
}

// writeKwokStages concatenates the Stage files of kwok's "general" pod stages
// (kustomize/stage/pod/general in the kwok module) into one --config file.
func writeKwokStages(ctx context.Context, goCmd, modDir, dst string) error {
	cmd := exec.CommandContext(ctx, goCmd, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	cmd.Dir = modDir
	cmd.Env = goEnv()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locate the kwok module: %w", err)
	}
	stageDir := filepath.Join(strings.TrimSpace(string(out)), "kustomize", "stage", "pod", "general")
	raw, err := os.ReadFile(filepath.Join(stageDir, "kustomization.yaml"))
	if err != nil {
		return err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return fmt.Errorf("kwok general stages: %w", err)
	}
	if len(k.Resources) == 0 {
		return fmt.Errorf("kwok general stages: no resources in %s", stageDir)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# kwok %s general pod stages (kustomize/stage/pod/general), generated by khist/test/cluster.\n", KwokVersion)
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(stageDir, r))
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(data)
		if !strings.HasSuffix(string(data), "\n") {
			b.WriteString("\n")
		}
	}
	return os.WriteFile(dst, []byte(b.String()), 0o644)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
