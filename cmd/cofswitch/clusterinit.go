package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/cofswitch/cofswitch/cluster"
)

type clusterInitFlags struct {
	dir, bind, monitorBind string
	store, name            string
	replicas               int
	ifMissing              bool
	servers                listFlag[cluster.Server]
	sensors, peers         listFlag[cluster.Identity]
}

// listFlag collects a repeated flag, each value parsed.
type listFlag[T any] struct {
	vals  []T
	parse func(string) (T, error)
}

func (l *listFlag[T]) String() string {
	if l == nil {
		return ""
	}
	return fmt.Sprint(l.vals)
}

func (l *listFlag[T]) Set(s string) error {
	v, err := l.parse(s)
	if err != nil {
		return err
	}
	l.vals = append(l.vals, v)
	return nil
}

func clusterInitCommand() *command {
	return &command{
		name:    "cluster-init",
		summary: "write the seeds, registry and server configurations of an exchange on a NATS cluster",
		doc: `Write into --dir what an exchange on a NATS cluster needs before its first
start, every file mode 0600 in a directory of mode 0700:

  switch.nk, switch.secret      the switch's seed and secret, shared by every
                                switch process ('serve --config DIR/cofswitch.yaml')
  sensor-ID.nk, peer-ID.nk      each sensor's and peer's seed
  db-ID.api-keys                an API key for each peer's database
  nats-NAME.conf                each server's configuration: JetStream (store
                                in --store-dir/NAME), routes to the others
                                (with a generated route password), and the
                                accounts that keep the organisations apart
  cofswitch.yaml                the registry: the servers' URLs, R3 streams,
                                the sensors and peers with their public keys,
                                each peer subscribed to every sensor under the
                                policy "share" (nothing internal, addresses
                                truncated to /24 and /48, the draft's fields)

Every process must see --dir at the same path (the registry names the
seeds by it): in the compose file, one volume mounted at /cluster. A
directory that already holds cofswitch.yaml is never overwritten (its
seeds may be in use): that is an error, or with --if-missing a no-op, so
that an init container may run at every start.

--server NAME=HOST:CLIENT_PORT:ROUTE_PORT[:MONITOR_PORT] (repeatable) is
one server as the clients and the other servers reach it; every server
listens on --bind (127.0.0.1 unless you say otherwise), its monitoring
endpoints on --monitor-bind (127.0.0.1 unless you say otherwise: they
show every organisation's connections and streams). --sensor and
--peer take ID@ORGANISATION. Later changes go through the registry as on
any exchange: edit cofswitch.yaml, 'cofswitch creds' for a new identity,
'cofswitch nats-config' for the servers' accounts.`,
		flags: func(fs *flag.FlagSet) any {
			f := &clusterInitFlags{}
			f.servers.parse = cluster.ParseServer
			f.sensors.parse = func(s string) (cluster.Identity, error) { return cluster.ParseIdentity("sensor", s) }
			f.peers.parse = func(s string) (cluster.Identity, error) { return cluster.ParseIdentity("peer", s) }
			fs.StringVar(&f.dir, "dir", "", "`directory` to write (required)")
			fs.Var(&f.servers, "server", "a server, `NAME=HOST:CLIENT:ROUTE[:MONITOR]` (repeatable)")
			fs.StringVar(&f.bind, "bind", "127.0.0.1", "`address` every server listens on (clients, routes)")
			fs.StringVar(&f.monitorBind, "monitor-bind", "127.0.0.1", "`address` the monitoring endpoints listen on (they show every organisation's connections)")
			fs.StringVar(&f.store, "store-dir", "", "`directory` of the servers' JetStream stores, one below it per server (required)")
			fs.Var(&f.sensors, "sensor", "a sensor, `ID@ORGANISATION` (repeatable)")
			fs.Var(&f.peers, "peer", "a peer, `ID@ORGANISATION` (repeatable)")
			fs.IntVar(&f.replicas, "replicas", 0, "replicas of every stream (0: 3, or fewer servers)")
			fs.StringVar(&f.name, "cluster", "cofswitch", "the cluster's `name`")
			fs.BoolVar(&f.ifMissing, "if-missing", false, "do nothing, successfully, when --dir holds a registry already")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("cluster-init takes no arguments")
			}
			return clusterInit(io, opts.(*clusterInitFlags))
		},
	}
}

func clusterInit(io stdio, f *clusterInitFlags) error {
	files, err := cluster.Init(cluster.Options{
		Dir: f.dir, Servers: f.servers.vals, Bind: f.bind, MonitorBind: f.monitorBind, StoreDir: f.store,
		Sensors: f.sensors.vals, Peers: f.peers.vals, Replicas: f.replicas, Cluster: f.name,
	})
	switch {
	case errors.Is(err, cluster.ErrExists) && f.ifMissing:
		fmt.Fprintf(io.out, "%s: already initialised, nothing written\n", f.dir)
		return nil
	case errors.Is(err, cluster.ErrExists), errors.Is(err, cluster.ErrOptions):
		return usageErrorf("%v", err)
	case err != nil:
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	fmt.Fprintf(io.out, "registry: %s\nseeds: %s\ndatabase API keys: %s\nservers: %s\n",
		files.Config, strings.Join(files.Seeds, " "), strings.Join(files.APIKeys, " "), strings.Join(files.ServerConfigs, " "))
	fmt.Fprintf(io.out, "\nStart each server with 'nats-server -c %s', then 'cofswitch serve --config %s' (as many as you like).\n",
		files.ServerConfigs[0], files.Config)
	return nil
}
