package main

// What the read commands (get, diff, state, timeline, history, rollouts, steps) share: opening
// the views brought up to date with the log, kubectl's flags, shell completion from history.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/khist/khist/eventlog"
	"github.com/khist/khist/projector"
	"github.com/khist/khist/query"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// queryFlags are the flags of every read command.
type queryFlags struct {
	namespace     string             // -n
	allNamespaces bool               // -A
	output        string             // -o
	db            string             // --db
	noUpdate      bool               // --no-update: read the views as they are
	table         query.TableOptions // --no-headers, --sort-by
	print         *printFlags        // kubectl's printers beside -o, for the tables' rows
	allClusters   bool               // --all-clusters
	// clusters is what the command does with several clusters selected (--cluster a,b,
	// --all-clusters): manyClusters shows them side by side, objectCluster narrows them to the
	// one that holds its object (oneCluster); by default several are an error.
	clusters clusterMode
	// kube holds kubectl's --kubeconfig and --context (and -n): they choose the namespace a
	// command reads when -n is not given. No server is ever contacted.
	kube *kubeFlags
}

func (f *queryFlags) addNamespace(cmd *cobra.Command, g *globalFlags, all bool) {
	f.kube = readConfigFlags(&f.namespace)
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace (default: the namespace of the kubeconfig's current context, or of --context; else default)")
	cmd.Flags().StringVar(f.kube.KubeConfig, "kubeconfig", "", "kubeconfig file whose context names the default namespace (as kubectl's; no server is contacted)")
	cmd.Flags().StringVar(f.kube.Context, "context", "", "kubeconfig context whose namespace is the default of -n")
	cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(g))
	cmd.RegisterFlagCompletionFunc("context", completeContexts)
	if all {
		cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "all namespaces")
	}
}

// clusterMode is what a read command does with several recorded clusters selected.
type clusterMode int

const (
	singleCluster clusterMode = iota // one cluster at a time: several are an error
	manyClusters                     // side by side, with a CLUSTER column
	objectCluster                    // the one that holds the command's object
)

func (f *queryFlags) addViews(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.allClusters, "all-clusters", false, "every recorded cluster of the history (--cluster takes several too: --cluster prod,stage)")
	cmd.Flags().StringVar(&f.db, "db", "", "views file (default DATA_DIR/views.db)")
	cmd.Flags().BoolVar(&f.noUpdate, "no-update", false, "answer from the views as they are, without folding the log's newest events first")
}

// addTable adds kubectl's flags for tables: --no-headers and --sort-by.
func (f *queryFlags) addTable(cmd *cobra.Command, example string) {
	cmd.Flags().BoolVar(&f.table.NoHeaders, "no-headers", false, "leave out the header row of tables")
	cmd.Flags().StringVar(&f.table.SortBy, "sort-by", "", "sort the rows of tables by a JSONPath into each row as -o json writes it, e.g. "+example)
}

// addRowsOutput adds -o for a command whose tables' rows can also go through kubectl's
// printers (-o jsonpath=..., go-template=..., custom-columns=..., a List of the rows), and
// kubectl's --template and --allow-missing-template-keys.
func (f *queryFlags) addRowsOutput(cmd *cobra.Command, formats []string) {
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", strings.Join(formats, ", ")+"; and kubectl's "+printerFormats+" over a List of the rows as -o json writes them")
	f.print = addPrintFlags(cmd)
	cmd.RegisterFlagCompletionFunc("output", completeOutput(formats))
}

// readConfigFlags are the kubectl flags of the read commands: only those that choose a
// namespace (--kubeconfig, --context, -n bound to namespace). khist's --cluster names the
// recorded cluster, so kubectl's flag of that name is left out.
func readConfigFlags(namespace *string) *kubeFlags {
	return &kubeFlags{KubeConfig: new(string), Context: new(string), Namespace: namespace}
}

// ns returns -n, or the namespace of the kubeconfig's context (kubectl's default), or default;
// "" with -A. It is valid after openViews, which reports a kubeconfig that cannot be read.
func (f *queryFlags) ns() string {
	if f.namespace != "" || f.allNamespaces {
		return f.namespace
	}
	ns, _ := kubeNamespace(f.kube)
	return ns
}

// kubeNamespace is the namespace kubectl would use with these flags: -n, else the namespace of
// the context (--context, else the kubeconfig's current context), else default. It only reads
// the kubeconfig: with none at all it answers default. An error is returned only for what the
// user named: a --kubeconfig that cannot be read, a --context the kubeconfig lacks.
func kubeNamespace(kube *kubeFlags) (string, error) {
	if kube == nil {
		kube = readConfigFlags(new(string))
	}
	named := *kube.KubeConfig != "" || *kube.Context != ""
	loader := kube.loader()
	ns, _, err := loader.Namespace()
	switch {
	case err != nil && named:
		files := kubeconfigFiles(kube, loader.ConfigAccess().GetLoadingPrecedence())
		if raw, rerr := loader.RawConfig(); rerr == nil && *kube.Context != "" && raw.Contexts[*kube.Context] == nil {
			names := make([]string, 0, len(raw.Contexts))
			for n := range raw.Contexts {
				names = append(names, n)
			}
			sort.Strings(names)
			return "", fmt.Errorf("--context: no context %q in %s (contexts: %s): name one of them, or give the namespace with -n", *kube.Context, files, list(names))
		}
		return "", fmt.Errorf("kubeconfig %s: %s: fix it, or give the namespace with -n", files, oneLine(err))
	case err != nil || ns == "":
		return "default", nil
	}
	return ns, nil
}

// kubeFlagsOf rebuilds the read flags from a command's parsed flags, for shell completion.
func kubeFlagsOf(cmd *cobra.Command) *kubeFlags {
	ns, _ := cmd.Flags().GetString("namespace")
	kube := readConfigFlags(&ns)
	*kube.KubeConfig, _ = cmd.Flags().GetString("kubeconfig")
	*kube.Context, _ = cmd.Flags().GetString("context")
	return kube
}

// completeContexts completes --context with the contexts of the kubeconfig.
func completeContexts(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	raw, err := kubeFlagsOf(cmd).loader().RawConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for n := range raw.Contexts {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// openViews opens the views for a read command after folding the events of the log they lack
// (projector.EnsureCurrent). When the log cannot be read, it answers from the views as they
// are and says so on stderr.
//
// khist collect and khist project, which fold the log into the same views, let other processes
// have the file at least every second, so that opening it waits at most about that long; a
// process that keeps it longer (a rebuild, a long catch-up) makes the open fail after
// projector.Options.Timeout (10s) with a one-line error. The catch-up reads the log with an
// ephemeral consumer: it leaves the durable consumer of collect or project alone, and whichever
// process folds an event first applies it, once.
func openViews(cmd *cobra.Command, g *globalFlags, f *queryFlags) (*query.Views, func(), error) {
	ctx := cmd.Context()
	if f.namespace == "" && !f.allNamespaces {
		if _, err := kubeNamespace(f.kube); err != nil {
			return nil, nil, err
		}
	}
	v, done, err := openAllViews(cmd, g, f)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	if fl := cmd.Flag("cluster"); !f.allClusters || fl != nil && fl.Changed {
		names = query.SplitClusters(g.Cluster)
	}
	if err := v.SelectClusters(ctx, query.ClusterArgs{Names: names, All: f.allClusters}); err != nil {
		done()
		return nil, nil, err
	}
	if f.clusters == singleCluster {
		if v, err = v.Single(cmd.Name()); err != nil {
			done()
			return nil, nil, err
		}
	}
	return v, done, nil
}

// oneCluster narrows the views of a command about one object to the selected cluster that
// holds it (query.Views.One).
func oneCluster(cmd *cobra.Command, v *query.Views, f *queryFlags, args []string) (*query.Views, error) {
	return v.One(cmd.Context(), cmd.Name(), objectArg(args), f.ns())
}

// openAllViews opens the views (see openViews) without selecting clusters.
func openAllViews(cmd *cobra.Command, g *globalFlags, f *queryFlags) (*query.Views, func(), error) {
	ctx := cmd.Context()
	path := viewsPath(g, f.db)
	env := query.DefaultEnv()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && f.noUpdate {
		return nil, nil, fmt.Errorf("no views at %s: record (khist collect) or import (khist import) first, or pass --data-dir or --db", path)
	}
	if !f.noUpdate {
		db, err := projector.Open(path, nil)
		if errors.Is(err, projector.ErrOtherSchema) {
			db, err = rebuildViews(ctx, cmd, g, path)
		}
		switch {
		case err == nil:
			if behind := ensureCurrent(ctx, g, db); errors.Is(behind, eventlog.ErrDamaged) {
				// The views cannot be brought up to date: an answer would silently lack the
				// events after the damage.
				seq, _ := db.Seq()
				db.Close()
				return nil, nil, fmt.Errorf("%w (--no-update answers from the views as they are, up to event %d)", behind, seq)
			} else if behind != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "khist: warning: the views may be behind the log: %v\n", behind)
			}
			return query.NewViews(db, g.Cluster, env), func() { db.Close() }, nil
		case errors.Is(err, projector.ErrInUse):
			return nil, nil, err
		case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
			// Someone else's views, or a read-only copy: answer from them as they are.
			fmt.Fprintf(cmd.ErrOrStderr(), "khist: warning: cannot bring the views up to date (%v): answering from them as they are\n", err)
		default:
			return nil, nil, err
		}
	}
	db, err := projector.Open(path, &projector.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	return query.NewViews(db, g.Cluster, env), func() { db.Close() }, nil
}

// rebuildViews makes the views at path again from the log (see openFolding).
func rebuildViews(ctx context.Context, cmd *cobra.Command, g *globalFlags, path string) (*projector.DB, error) {
	l, err := openLog(ctx, g)
	if err != nil {
		return nil, fmt.Errorf("the views at %s were made by another version of khist, and the log to rebuild them from cannot be opened: %w", path, err)
	}
	defer l.Close()
	return openFolding(ctx, cmd.ErrOrStderr(), l, path, nil)
}

// ensureCurrent folds the tail of the log into db; it returns why it could not.
func ensureCurrent(ctx context.Context, g *globalFlags, db *projector.DB) error {
	l, err := openLog(ctx, g)
	if err != nil {
		return fmt.Errorf("cannot open the log: %v", err)
	}
	defer l.Close()
	if _, err := projector.EnsureCurrent(ctx, l, db); err != nil {
		return err
	}
	return nil
}

// isTerminal reports whether w is a terminal that takes colour (not when NO_COLOR is set).
func isTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	fh, ok := w.(*os.File)
	return ok && term.IsTerminal(int(fh.Fd()))
}

// objectArg accepts KIND/NAME, or KIND NAME as kubectl does, and returns KIND/NAME.
func objectArg(args []string) string {
	if len(args) == 2 && !strings.Contains(args[0], "/") {
		return args[0] + "/" + args[1]
	}
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// objectArgs validates the positional arguments KIND/NAME (or KIND NAME).
func objectArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return fmt.Errorf("%s: KIND/NAME is needed, e.g. %s deploy/web", cmd.Name(), cmd.Name())
	case len(args) == 2 && strings.Contains(args[0], "/"), len(args) > 2:
		return fmt.Errorf("%s: one object, as KIND/NAME or KIND NAME, e.g. %s deploy/web", cmd.Name(), cmd.Name())
	}
	return nil
}

// readOnlyViews opens the views for completion: read-only, without touching the log, nil when
// they cannot be opened soon (collect or project lets readers in at least every second).
func readOnlyViews(g *globalFlags, cmd *cobra.Command) *projector.DB {
	db := ""
	if f := cmd.Flags().Lookup("db"); f != nil {
		db = f.Value.String()
	}
	d, err := projector.Open(viewsPath(g, db), &projector.Options{ReadOnly: true, Timeout: 1500 * time.Millisecond})
	if err != nil {
		return nil
	}
	return d
}

// completeObject completes KIND/NAME: kinds first (workload kinds only for commands about
// rollouts), then the names the history holds, deleted objects included.
func completeObject(g *globalFlags, workloads bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ks, prefix, ok := strings.Cut(toComplete, "/")
		if !ok {
			var out []string
			words := query.KindNames()
			if workloads {
				words = query.WorkloadKindNames()
			}
			for _, w := range words {
				if strings.HasPrefix(w, toComplete) {
					out = append(out, w+"/")
				}
			}
			return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		}
		db := readOnlyViews(g, cmd)
		if db == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		ctx := context.Background()
		// The kind as the recorded discovery knows it (CRD short names).
		clusters := completionClusters(g, cmd, db)
		if len(clusters) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		k, err := query.NewViews(db, clusters[0], query.DefaultEnv()).ResolveKind(ctx, ks)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var namespaces []string
		all, _ := cmd.Flags().GetBool("all-namespaces")
		switch ns, _ := cmd.Flags().GetString("namespace"); {
		case !k.Namespaced:
			namespaces = []string{""}
		case all:
			for _, c := range clusters {
				nss, _ := db.Namespaces(ctx, c)
				namespaces = append(namespaces, nss...)
			}
		case ns != "":
			namespaces = []string{ns}
		default:
			ns, _ := kubeNamespace(kubeFlagsOf(cmd))
			namespaces = []string{ns}
		}
		seen := map[string]bool{}
		var out []string
		for _, cl := range clusters {
			for _, ns := range namespaces {
				names, _ := db.Names(ctx, cl, k.Group, k.Kind, ns)
				for _, n := range names {
					c := ks + "/" + n
					if strings.HasPrefix(n, prefix) && !seen[c] {
						seen[c] = true
						out = append(out, c)
					}
				}
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNamespaces completes -n with the namespaces of the history's clusters named by
// --cluster.
func completeNamespaces(g *globalFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		db := readOnlyViews(g, cmd)
		if db == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		var out []string
		for _, c := range completionClusters(g, cmd, db) {
			nss, _ := db.Namespaces(context.Background(), c)
			for _, ns := range nss {
				if ns != "" && strings.HasPrefix(ns, toComplete) && !slices.Contains(out, ns) {
					out = append(out, ns)
				}
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionClusters are the clusters completion looks in: those of --cluster, or every one
// with --all-clusters.
func completionClusters(g *globalFlags, cmd *cobra.Command, db *projector.DB) []string {
	if all, _ := cmd.Flags().GetBool("all-clusters"); all {
		cs, _ := db.Clusters(context.Background())
		return cs
	}
	return query.SplitClusters(g.Cluster)
}

// completeClusters completes --cluster with the clusters of the history, after the names
// already given before a comma.
func completeClusters(g *globalFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		db := readOnlyViews(g, cmd)
		if db == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		cs, _ := db.Clusters(context.Background())
		given, prefix := "", toComplete
		if i := strings.LastIndex(toComplete, ","); i >= 0 {
			given, prefix = toComplete[:i+1], toComplete[i+1:]
		}
		var out []string
		for _, c := range cs {
			if strings.HasPrefix(c, prefix) && !slices.Contains(query.SplitClusters(given), c) {
				out = append(out, given+c)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// completeKinds completes --kind.
func completeKinds(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, w := range query.KindNames() {
		if strings.HasPrefix(w, toComplete) {
			out = append(out, w)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeWords completes a flag with fixed values.
func completeWords(words ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeRollouts completes --rollout with the rollouts of the workload named by the argument.
func completeRollouts(g *globalFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		out := []string{"latest", "all"}
		k, name, err := query.ParseKindName(objectArg(args), nil, false)
		db := readOnlyViews(g, cmd)
		if err != nil || db == nil {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		ns, _ := cmd.Flags().GetString("namespace")
		if ns == "" {
			ns, _ = kubeNamespace(kubeFlagsOf(cmd))
		}
		rs, _ := db.Rollouts(context.Background(), projector.RolloutFilter{Cluster: g.Cluster, Namespace: ns, Kind: k.Kind, Name: name})
		for i, r := range rs {
			// KIND/NAME#N: a # that starts a word would begin a shell comment.
			out = append(out, fmt.Sprintf("%s/%s#%d\trevision %d, %s", strings.ToLower(r.Kind), r.Name, i+1, r.ToRevision, r.Start.Local().Format("2006-01-02 15:04:05")))
		}
		if k.Kind == "Job" {
			runs, _ := db.JobRuns(context.Background(), projector.JobFilter{Cluster: g.Cluster, Namespace: ns, Name: name})
			for i, r := range runs {
				out = append(out, fmt.Sprintf("job/%s#%d\tstarted %s", r.Name, i+1, r.Created.Local().Format("2006-01-02 15:04:05")))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
