package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/peers/api"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/routing"
)

func dbCommand() *command {
	serve := dbServeCommand()
	return &command{
		name:    "db",
		summary: "the peer's passive DNS database and its query APIs",
		doc:     "The reference pDNS database a peer keeps: ingest its feed, answer dnsdbq, CIRCL clients and MISP.",
		subs:    []*command{serve, dbImportCommand()},
		dflt:    serve,
	}
}

type dbFlags struct {
	peer, store, httpAddr, consumer, apiPrefix string
	postgres                                   string
	keysFile, usersFile                        string
	every                                      time.Duration
	nats                                       natsFlags
	log                                        logFlags
}

func dbServeCommand() *command {
	return &command{
		name:    "serve",
		summary: "ingest a peer's feed and answer queries",
		doc: `Consume the peer's stream through its durable consumer, aggregate the
records into rrsets (first seen, last seen, count, bailiwick, sensors) in the
embedded store under --store, and answer the DNSDB API v2 (under /dnsdb/v2,
X-Api-Key) and the CIRCL API (/pdns/query, HTTP Basic) on --http.

The store is saved as a snapshot every --checkpoint (and on exit); a batch
is acked only once a snapshot holds it, so after a crash the snapshot is
reloaded and the rest redelivered, applied once.

Credentials: API keys, one per line, in --api-keys (or COFSWITCH_DB_API_KEYS,
comma-separated); users as user:password lines in --users. At least one is
required: the database does not answer anonymous queries. Both files must
be their owner's alone (chmod 600): one that others may read is refused.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dbFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.StringVar(&f.store, "store", "cofswitch-db", "store `directory` (embedded store)")
			fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL `DSN`: keep the rrsets there instead of the embedded store")
			fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8053", "query API `address`")
			fs.StringVar(&f.consumer, "consumer", routing.PeerConsumer, "the durable consumer `name` to bind")
			fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` (default "+accounts.APIPrefix+" with --nkey or --creds)")
			fs.StringVar(&f.keysFile, "api-keys", "", "`file` of API keys, one per line")
			fs.StringVar(&f.usersFile, "users", "", "`file` of user:password lines for HTTP Basic")
			fs.DurationVar(&f.every, "checkpoint", 5*time.Second, "how often to save the store and ack what it holds")
			addNATSFlags(fs, &f.nats, defaultURL)
			addLogFlags(fs, &f.log)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("db serve takes no arguments")
			}
			return dbServe(ctx, io, opts.(*dbFlags))
		},
	}
}

func dbServe(ctx context.Context, io stdio, f *dbFlags) error {
	if f.peer == "" {
		return usageErrorf("--peer is required")
	}
	if err := routing.ValidateID("peer", f.peer, true); err != nil {
		return usageErrorf("--peer: %v", err)
	}
	log, err := f.log.logger(io)
	if err != nil {
		return err
	}
	keys, users, err := api.LoadCredentials(f.keysFile, f.usersFile, os.Getenv("COFSWITCH_DB_API_KEYS"))
	if err != nil {
		if errors.Is(err, api.ErrNoCredentials) {
			err = fmt.Errorf("%w: give --api-keys, --users or COFSWITCH_DB_API_KEYS", err)
		}
		return usageErrorf("%v", err)
	}
	st, err := openStore(ctx, f)
	if err != nil {
		return err
	}
	defer st.Close()
	stream := routing.PeerStream(f.peer)
	applied, _ := st.Store.Applied(ctx, stream)
	log.Info("store ready", "postgres", f.postgres != "", "applied_through", applied)

	nc, cons, err := f.nats.bindPeerFeed(ctx, "cofswitch-db", log, f.peer, f.apiPrefix, f.consumer)
	if err != nil {
		return err
	}
	defer nc.Close()
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return &exitError{code: exitUsage, msg: "--http: " + err.Error()}
	}
	srv := &api.Server{Store: st.Store, APIKeys: keys, Users: users, Log: log}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	log.Info("query API ready", "url", "http://"+ln.Addr().String(), "dnsdb", "/dnsdb/v2", "circl", "/pdns/query")
	in := &ingest.Ingester{Consumer: cons, Stream: stream, Store: st.Store, Save: st.Save, Every: f.every, Log: log}
	err = in.Run(ctx)
	stats := in.Stats()
	log.Info("db stopped", "batches", stats.Batches, "records", stats.Records, "skipped", stats.Skipped)
	return err
}

// openStore opens the store the flags name; a directory that cannot be
// used exits 2, any other failure 1.
func openStore(ctx context.Context, f *dbFlags) (*db.Opened, error) {
	st, err := db.Open(ctx, f.store, f.postgres)
	switch {
	case errors.Is(err, db.ErrStoreDir):
		return nil, &exitError{code: exitUsage, msg: err.Error()}
	case err != nil:
		return nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	return st, nil
}
