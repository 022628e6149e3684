package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/pdnsapi"
	"github.com/cofswitch/cofswitch/pdnsdb"
	"github.com/cofswitch/cofswitch/peers"
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
required: the database does not answer anonymous queries.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dbFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.StringVar(&f.store, "store", "cofswitch-db", "store `directory` (embedded store)")
			fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL `DSN`: keep the rrsets there instead of the embedded store")
			fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8053", "query API `address`")
			fs.StringVar(&f.consumer, "consumer", config.DefaultConsumer, "the durable consumer `name` to bind")
			fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` (default "+peers.APIPrefix+" with --nkey or --creds)")
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

// credentials reads the API keys and users; none at all is refused.
func credentials(f *dbFlags) ([]string, map[string]string, error) {
	var keys []string
	users := map[string]string{}
	if v := os.Getenv("COFSWITCH_DB_API_KEYS"); v != "" {
		keys = append(keys, strings.Split(v, ",")...)
	}
	read := func(path string) ([]string, error) {
		if path == "" {
			return nil, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out, nil
	}
	k, err := read(f.keysFile)
	if err != nil {
		return nil, nil, err
	}
	keys = append(keys, k...)
	u, err := read(f.usersFile)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range u {
		user, pass, ok := strings.Cut(l, ":")
		if !ok || user == "" || pass == "" {
			return nil, nil, fmt.Errorf("%s: a line is not user:password", f.usersFile)
		}
		users[user] = pass
	}
	if len(keys) == 0 && len(users) == 0 {
		return nil, nil, errors.New("no API key and no user: give --api-keys, --users or COFSWITCH_DB_API_KEYS")
	}
	return keys, users, nil
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
	keys, users, err := credentials(f)
	if err != nil {
		return usageErrorf("%v", err)
	}
	var store pdnsdb.Store
	var save func() error
	if f.postgres != "" {
		pg, err := pdnsdb.OpenPG(ctx, f.postgres)
		if err != nil {
			return &exitError{code: exitFailure, msg: err.Error()}
		}
		store = pg
	} else {
		if err := os.MkdirAll(f.store, 0o700); err != nil {
			return &exitError{code: exitUsage, msg: err.Error()}
		}
		mem, err := pdnsdb.LoadMemStore(f.store)
		if err != nil {
			return &exitError{code: exitFailure, msg: err.Error()}
		}
		store, save = mem, func() error { return mem.Save(f.store) }
	}
	defer store.Close()
	stream := routing.PeerStream(f.peer)
	applied, _ := store.Applied(ctx, stream)
	log.Info("store ready", "postgres", f.postgres != "", "applied_through", applied)

	nc, err := f.nats.connect("cofswitch-db", log, nats.CustomInboxPrefix(peers.PeerInbox(f.peer)))
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	defer nc.Close()
	prefix := f.apiPrefix
	if prefix == "" && (f.nats.nkey != "" || f.nats.creds != "") {
		prefix = peers.APIPrefix
	}
	var js jetstream.JetStream
	if prefix != "" {
		js, err = jetstream.NewWithAPIPrefix(nc, prefix)
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		return err
	}
	cons, err := js.Consumer(ctx, stream, f.consumer)
	if err != nil {
		return &exitError{code: exitFailure, msg: "binding consumer " + f.consumer + " on " + stream + ": " + err.Error()}
	}
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return &exitError{code: exitUsage, msg: "--http: " + err.Error()}
	}
	api := &pdnsapi.Server{Store: store, APIKeys: keys, Users: users, Log: log}
	hs := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	log.Info("query API ready", "url", "http://"+ln.Addr().String(), "dnsdb", "/dnsdb/v2", "circl", "/pdns/query")
	in := &pdnsdb.Ingester{Consumer: cons, Stream: stream, Store: store, Save: save, Every: f.every, Log: log}
	err = in.Run(ctx)
	st := in.Stats()
	log.Info("db stopped", "batches", st.Batches, "records", st.Records, "skipped", st.Skipped)
	return err
}

func dbImportCommand() *command {
	return &command{
		name:    "import",
		args:    "FILE...",
		summary: "load COF files into the store",
		doc: `Load COF records (NDJSON, plain, gzip or zstd) into the store under --store,
merged by the same rules as the feed, and save it. Invalid lines are
reported as "FILE:LINE: reason". Run it while 'db serve' is stopped.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dbFlags{}
			fs.StringVar(&f.store, "store", "cofswitch-db", "store `directory`")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			return dbImport(ctx, io, opts.(*dbFlags), args)
		},
	}
}

func dbImport(ctx context.Context, io stdio, f *dbFlags, args []string) error {
	if len(args) == 0 {
		return usageErrorf("db import takes one or more FILEs")
	}
	if err := os.MkdirAll(f.store, 0o700); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	store, err := pdnsdb.LoadMemStore(f.store)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	prog := newProgress(io.err)
	total, invalid := 0, 0
	for _, name := range args {
		fh, err := os.Open(name)
		if err != nil {
			return &exitError{code: exitUsage, msg: err.Error()}
		}
		rd, err := cof.NewReader(fh)
		if err != nil {
			fh.Close()
			return &exitError{code: exitUsage, msg: err.Error()}
		}
		var batch []*cof.Record
		flush := func() error {
			// Imports are not a stream: sequence 0 is never skipped.
			if _, err := store.Apply(ctx, "import:"+filepath.Base(name), 0, batch); err != nil {
				return err
			}
			total += len(batch)
			prog.update(total, 0)
			batch = batch[:0]
			return nil
		}
		for rd.Next() {
			if err := rd.LineErr(); err != nil {
				invalid++
				fmt.Fprintf(io.err, "%s:%d: %s\n", name, rd.LineNumber(), err.(*cof.Error).Detail())
				continue
			}
			c := *rd.Record()
			batch = append(batch, &c)
			if len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		rerr := rd.Err()
		rd.Close()
		fh.Close()
		if rerr != nil {
			return &exitError{code: exitUsage, msg: rerr.Error()}
		}
	}
	prog.done()
	if err := store.Save(f.store); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "imported %d records (%d invalid); the store holds %d rrsets\n", total, invalid, store.Len())
	if invalid > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}
