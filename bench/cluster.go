package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// On an external cluster (Options.NATSURL) the benchmark creates the
// exchange's streams itself, each marked with markKey in its metadata,
// and deletes them after each phase; before each phase it deletes what a
// run that died left, and refuses a cluster that holds an exchange's
// streams it did not mark.

// markKey is the stream metadata key that marks a benchmark's stream; its
// value names the run (host and process id).
const markKey = "cofswitch-bench"

// clusterTimeout bounds each call to the cluster's JetStream API and the
// deletion of a phase's streams.
const clusterTimeout = 30 * time.Second

// connectCluster connects the benchmark's own client to an external
// cluster and checks that JetStream answers.
func connectCluster(ctx context.Context, urls string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(urls, nats.Name("cofswitch-bench"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("bench: cannot connect to the NATS cluster at %s (the benchmark expects a cluster of its own, without authentication): %w",
			bus.Redact(urls), err)
	}
	js, err := jetstream.New(nc)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, clusterTimeout)
		_, err = js.AccountInfo(actx)
		cancel()
	}
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("bench: JetStream on the NATS cluster at %s: %w", bus.Redact(urls), err)
	}
	return nc, js, nil
}

// isExchangeStream reports whether name is one of the names an exchange
// gives its streams.
func isExchangeStream(name string) bool {
	return strings.HasPrefix(name, routing.InStreamPrefix) || strings.HasPrefix(name, routing.PeerStreamPrefix) ||
		name == routing.DLQStream || name == routing.HoldStream || name == "KV_"+routing.SubscriptionsBucket
}

// clearStreams deletes the streams an earlier benchmark run left on the
// cluster. It refuses, deleting nothing, when the cluster holds an
// exchange's streams without the benchmark's mark, or a benchmark's input
// stream with pull requests waiting: another run, still going.
func clearStreams(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	var ours, foreign []string
	list := js.ListStreams(ctx)
	for info := range list.Info() {
		name := info.Config.Name
		switch {
		case !isExchangeStream(name):
		case info.Config.Metadata[markKey] == "":
			foreign = append(foreign, name)
		default:
			ours = append(ours, name)
		}
	}
	if err := list.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("bench: listing the cluster's streams: %w", err)
	}
	if len(foreign) > 0 {
		slices.Sort(foreign)
		return fmt.Errorf("bench: the cluster holds an exchange's streams (%s): the benchmark creates and deletes COF_IN_*, COF_DLQ, COF_HOLD and PEER_* streams, so it runs only on a cluster of its own",
			strings.Join(foreign[:min(len(foreign), 5)], ", "))
	}
	for _, name := range ours {
		if err := checkIdle(ctx, js, name); err != nil {
			return err
		}
	}
	for _, name := range ours {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("bench: deleting the stream %s an earlier run left: %w", name, err)
		}
	}
	return nil
}

// checkIdle refuses a benchmark's input stream that a switch still pulls
// from.
func checkIdle(ctx context.Context, js jetstream.JetStream, name string) error {
	if !strings.HasPrefix(name, routing.InStreamPrefix) {
		return nil
	}
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bench: stream %s: %w", name, err)
	}
	list := s.ListConsumers(ctx)
	for info := range list.Info() {
		if info.NumWaiting > 0 {
			return fmt.Errorf("bench: the stream %s of another benchmark run (%s) is in use: its consumer %s has pull requests waiting; let that run end (a stopped switch's requests expire within 10 s)",
				name, s.CachedInfo().Config.Metadata[markKey], info.Name)
		}
	}
	if err := list.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("bench: listing the consumers of %s: %w", name, err)
	}
	return nil
}

// runMark is this run's mark: the host and the process id.
func runMark() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d", host, os.Getpid())
}

// createStreams creates the exchange's streams as cfg sets them up, each
// marked as the benchmark's, and the consumers the exchange provisions
// on them (exchange.EnsureStreams, which may update a stream it finds and
// so drop the mark: the mark is set again where it went).
func createStreams(ctx context.Context, js jetstream.JetStream, cfg *config.Config) error {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	mark := runMark()
	scs := exchange.AllStreamConfigs(cfg)
	for _, sc := range scs {
		sc.Metadata = map[string]string{markKey: mark}
		if _, err := js.CreateStream(ctx, sc); err != nil {
			return fmt.Errorf("bench: creating the stream %s (%d replicas): %w", sc.Name, sc.Replicas, err)
		}
	}
	if err := exchange.EnsureStreams(ctx, js, cfg); err != nil {
		return err
	}
	for _, sc := range scs {
		s, err := js.Stream(ctx, sc.Name)
		if err != nil {
			return fmt.Errorf("bench: stream %s: %w", sc.Name, err)
		}
		have := s.CachedInfo().Config
		if have.Metadata[markKey] == mark {
			continue
		}
		have.Metadata = maps.Clone(have.Metadata)
		if have.Metadata == nil {
			have.Metadata = map[string]string{}
		}
		have.Metadata[markKey] = mark
		if _, err := js.UpdateStream(ctx, have); err != nil {
			return fmt.Errorf("bench: marking the stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// deleteStreams deletes the exchange's streams of cfg that this run
// made (those with its mark). It runs as a phase ends, failed or
// interrupted too: its time is its own.
func deleteStreams(js jetstream.JetStream, cfg *config.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	mark := runMark()
	var errs []error
	for _, sc := range exchange.AllStreamConfigs(cfg) {
		s, err := js.Stream(ctx, sc.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err == nil && s.CachedInfo().Config.Metadata[markKey] != mark {
			continue // not this run's
		}
		if err == nil {
			err = js.DeleteStream(ctx, sc.Name)
		}
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("bench: deleting the stream %s: %w", sc.Name, err))
		}
	}
	return errors.Join(errs...)
}

// probeCluster checks, before the pool is generated, that the cluster
// answers and can be cleared.
func probeCluster(ctx context.Context, urls string) error {
	nc, js, err := connectCluster(ctx, urls)
	if err != nil {
		return err
	}
	defer nc.Close()
	return clearStreams(ctx, js)
}
