package collector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderOptions configure RunElected. Zero values mean the documented defaults.
type LeaderOptions struct {
	// LeaseName and LeaseNamespace name the coordination.k8s.io Lease the replicas compete
	// for. Both required.
	LeaseName, LeaseNamespace string
	// Identity is this replica's name in the Lease. Default: the host name and a random suffix.
	Identity string
	// LeaseDuration is how long the other replicas wait after the last renewal before taking
	// the Lease (default 15s); RenewDeadline how long the leader tries to renew before it gives
	// up leading (default 10s); RetryPeriod how often each replica tries (default 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Logger receives the elections' news. Default slog.Default().
	Logger *slog.Logger
}

// ErrLeadershipLost is returned by RunElected when this replica stopped renewing the Lease
// (another took it, or the API server could not be reached within RenewDeadline).
var ErrLeadershipLost = errors.New("leadership lost")

func (o *LeaderOptions) defaults() error {
	if o.LeaseName == "" || o.LeaseNamespace == "" {
		return fmt.Errorf("%w: the lease needs a name and a namespace", ErrInvalidOption)
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = 15 * time.Second
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = 10 * time.Second
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = 2 * time.Second
	}
	if !(o.RetryPeriod < o.RenewDeadline && o.RenewDeadline < o.LeaseDuration) {
		return fmt.Errorf("%w: the lease needs retry period (%s) < renew deadline (%s) < lease duration (%s)",
			ErrInvalidOption, o.RetryPeriod, o.RenewDeadline, o.LeaseDuration)
	}
	if o.Identity == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Identity = host + "_" + hex.EncodeToString(b)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// RunElected runs run only while this replica holds the Lease, as controllers do with
// client-go's leader election: replicas that do not hold it wait, and one of them takes over
// within LeaseDuration once the leader stops renewing (killed, partitioned). run's context
// ends when the leadership is lost; RunElected then waits for run to return and returns
// ErrLeadershipLost (the process should exit: its replacement starts as a candidate). When
// ctx ends, run is stopped and the Lease released, so that another replica takes over at
// once; RunElected then returns nil. An error of run is returned as is, after giving up the
// Lease.
//
// A collector that takes over reads what the log holds first (Start): it resumes each watch
// from the previous leader's last progress record, so that the changes made between the two
// are replayed, and adds no version the previous leader recorded.
func RunElected(ctx context.Context, cfg *rest.Config, o LeaderOptions, run func(ctx context.Context) error) error {
	if err := o.defaults(); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: o.LeaseName, Namespace: o.LeaseNamespace},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		runErr error
		ran    bool
		done   = make(chan struct{})
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            o.LeaseNamespace + "/" + o.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				o.Logger.Info("leading: recording", "lease", o.LeaseNamespace+"/"+o.LeaseName, "identity", o.Identity)
				mu.Lock()
				ran = true
				mu.Unlock()
				err := run(lctx)
				mu.Lock()
				runErr = err
				mu.Unlock()
				close(done)
				if err != nil {
					cancel() // give up the Lease
				}
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				if id != o.Identity {
					o.Logger.Info("standing by: another replica records", "leader", id, "lease", o.LeaseNamespace+"/"+o.LeaseName)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	o.Logger.Info("waiting for the lease", "lease", o.LeaseNamespace+"/"+o.LeaseName, "identity", o.Identity)
	le.Run(ctx) // returns once leadership is lost or ctx ends
	mu.Lock()
	started := ran
	mu.Unlock()
	if !started {
		return nil // ctx ended while standing by
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return nil
	}
	return ErrLeadershipLost
}
