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
	store, save, release, err := openStore(ctx, f)
	if err != nil {
		return err
	}
	defer release()
	stream := routing.PeerStream(f.peer)
	applied, _ := store.Applied(ctx, stream)
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
		doc: `Load COF records (NDJSON, plain, gzip or zstd) into the embedded store
under --store, or into PostgreSQL with --postgres, merged by the same rules
as the feed. Invalid lines are reported as "FILE:LINE: reason" and skipped;
the exit code is then 1. Progress is shown on a terminal.

The embedded store is saved at the end: run the import while 'db serve'
is stopped (the store's lock refuses otherwise). PostgreSQL takes imports
while 'db serve' runs.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dbFlags{}
			fs.StringVar(&f.store, "store", "cofswitch-db", "store `directory` (embedded store)")
			fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL `DSN`: import into PostgreSQL instead of the embedded store")
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
	store, save, release, err := openStore(ctx, f)
	if err != nil {
		return err
	}
	defer release()
	if save == nil {
		save = func() error { return nil }
	}
	prog := newProgress(io.err)
	total, invalid := 0, 0
	for _, name := range args {
		n, bad, err := importFile(ctx, io, store, name, func(done int) { prog.update(total+done, 0) })
		total += n
		invalid += bad
		if err != nil {
			prog.done()
			// What the earlier files and batches merged stays: an import
			// is not a transaction, and running it again merges the same
			// records twice only in the counts.
			if serr := save(); serr != nil {
				return &exitError{code: exitFailure, msg: fmt.Sprintf("%v (and saving what was imported: %v)", err, serr)}
			}
			return err
		}
	}
	prog.done()
	if err := save(); err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	fmt.Fprintf(io.out, "imported %d records from %d files (%d invalid lines skipped)\n", total, len(args), invalid)
	if invalid > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

// importFile merges one file's valid records into store in batches and
// returns how many it merged and how many lines were invalid.
func importFile(ctx context.Context, io stdio, store pdnsdb.Store, name string, progress func(int)) (n, invalid int, err error) {
	fh, err := os.Open(name)
	if err != nil {
		return 0, 0, &exitError{code: exitUsage, msg: err.Error()}
	}
	defer fh.Close()
	rd, err := cof.NewReader(fh)
	if err != nil {
		return 0, 0, &exitError{code: exitUsage, msg: fmt.Sprintf("%s: %v", name, err)}
	}
	defer rd.Close()
	var batch []*cof.Record
	flush := func() error {
		// Imports are not a stream: sequence 0 is never skipped.
		if _, err := store.Apply(ctx, "import:"+filepath.Base(name), 0, batch); err != nil {
			return &exitError{code: exitFailure, msg: fmt.Sprintf("%s: storing records before line %d: %v", name, rd.LineNumber(), err)}
		}
		n += len(batch)
		progress(n)
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
				return n, invalid, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, invalid, err
	}
	if err := rd.Err(); err != nil {
		return n, invalid, &exitError{code: exitFailure, msg: fmt.Sprintf("%s: %v", name, err)}
	}
	return n, invalid, nil
}

// openStore opens the store the flags name: PostgreSQL with --postgres,
// else the embedded store under --store, locked to this process and
// loaded from its snapshot. save writes the embedded store's snapshot (nil
// for PostgreSQL, which commits as it goes); release closes the store and
// frees the lock.
func openStore(ctx context.Context, f *dbFlags) (store pdnsdb.Store, save func() error, release func(), err error) {
	if f.postgres != "" {
		pg, err := pdnsdb.OpenPG(ctx, f.postgres)
		if err != nil {
			return nil, nil, nil, &exitError{code: exitFailure, msg: err.Error()}
		}
		return pg, nil, func() { pg.Close() }, nil
	}
	if err := os.MkdirAll(f.store, 0o700); err != nil {
		return nil, nil, nil, &exitError{code: exitUsage, msg: err.Error()}
	}
	lock, err := pdnsdb.LockDir(f.store)
	if err != nil {
		return nil, nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	mem, err := pdnsdb.LoadMemStore(f.store)
	if err != nil {
		lock.Close()
		return nil, nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	release = func() {
		mem.Close()
		lock.Close()
	}
	return mem, func() error { return mem.Save(f.store) }, release, nil
}
