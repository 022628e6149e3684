package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
	postgres, metrics, exchangeKey             string
	keysFile, usersFile                        string
	every                                      time.Duration
	sensorQuota                                int
	offline                                    bool
	cacheBytes, memtableBytes                  int64
	nats                                       natsFlags
	log                                        logFlags
	limits                                     apiLimitFlags
}

// apiLimitFlags bound what the query API's clients can take.
type apiLimitFlags struct {
	maxConns, burst int
	maxResults      int
	queryTimeout    time.Duration
	rate            api.Rate
	timeouts        api.Timeouts
}

func addAPILimitFlags(fs *flag.FlagSet, f *apiLimitFlags) {
	f.rate = api.DefaultRate()
	fs.IntVar(&f.maxConns, "max-conns", api.DefaultMaxConns, "most query API connections at once; more wait (0: no cap)")
	fs.IntVar(&f.maxResults, "max-results", api.DefaultLimit, "most rrsets one answer holds (DNSDB limit, CIRCL page); a DNSDB answer cut there ends with \"limited\" and the offset to go on")
	fs.Var(&f.rate, "rate-limit", "requests per API key and per user: `RATE` as N/s, N/m or N/h (0: no limit)")
	fs.IntVar(&f.burst, "burst", api.DefaultBurst, "requests an API key or user may make at once, beyond --rate-limit")
	fs.DurationVar(&f.queryTimeout, "query-timeout", api.DefaultQueryTimeout, "most time the lookups of one request may take; past it: 503 (each request may also examine at most 1,000,000 index entries: 400)")
	fs.DurationVar(&f.timeouts.Idle, "idle-timeout", api.DefaultIdleTimeout, "close a keep-alive connection idle this long")
	fs.DurationVar(&f.timeouts.Read, "read-timeout", api.DefaultReadTimeout, "most time to read a request")
	fs.DurationVar(&f.timeouts.Write, "write-timeout", api.DefaultWriteTimeout, "most time an answer may wait for the client to read (per 32 KiB: long answers complete)")
}

func (f *apiLimitFlags) options() []api.Option {
	return []api.Option{
		api.WithMaxConns(f.maxConns), api.WithRateLimit(f.rate, f.burst), api.WithTimeouts(f.timeouts),
		api.WithMaxResults(f.maxResults), api.WithQueryTimeout(f.queryTimeout),
	}
}

func dbServeCommand() *command {
	return &command{
		name:    "serve",
		summary: "ingest a peer's feed and answer queries",
		doc: fmt.Sprintf(`Consume the peer's stream through its durable consumer, aggregate the
records into rrsets (first seen, last seen, count, bailiwick, sensors) in the
disk store under --store (or PostgreSQL with --postgres), and answer the
DNSDB API v2 (under /dnsdb/v2, X-Api-Key) and the CIRCL API (/pdns/query,
HTTP Basic) on --http; the API is described by /openapi.json.

With --offline it binds no feed and answers from the store as it is (one
filled by 'db import', or a copy of a peer's store): no exchange is needed.

The disk store is an LSM (Pebble): each batch is merged with its stream
sequence in one atomic write; every --checkpoint the write-ahead log is
synced and the batches it holds are acked, so after a crash the store
reopens in seconds whatever its size and the server redelivers the rest,
applied once. Its memory is the block cache (--cache-bytes) and up to two
memtables (--memtable-bytes), whatever the size of the data. A store
directory of an earlier version (one snapshot file) is migrated at the
first start.

Credentials: API keys, one per line, in --api-keys (or COFSWITCH_DB_API_KEYS,
comma-separated); users in --users in htpasswd format with bcrypt hashes, as
'htpasswd -B -c users NAME' writes them (user:$2y$...; $2a$ and $2b$ too). A
user:password line in plaintext is still taken, with a warning naming the
user; other hash schemes (htpasswd -m, -s, crypt) are refused. At least one
key or user is required: the database does not answer anonymous queries.
Both files must be their owner's alone (chmod 600): one that others may
read is refused.

Limits, so that no client can starve the others: --max-conns connections at
once (more wait to be accepted); idle keep-alive connections closed after
--idle-timeout; each API key and user limited to --rate-limit requests with
bursts of --burst (beyond: 429 with Retry-After; /dnsdb/v2/rate_limit says
where a key stands); an answer may wait --write-timeout for the client per
32 KiB, so a long answer to a slow reader completes. Each client address
may fail %d logins in a row, then one per %v (beyond: 429 with Retry-After,
its credentials not even checked); failed logins are logged, the first in
full and then a count per %v, never with the secret tried. A query skips
at most %d matches (DNSDB offset, CIRCL cursor; beyond: DNSDB 416, CIRCL 400) and
returns at most --max-results (default %d; a DNSDB answer cut there ends
with "limited" and the offset to go on).

With --metrics it serves on that address, from the start: /metrics
(records and batches applied, rrsets and size of the store, the time of
each checkpoint, queries by API and outcome and their time; the list is in
the README), /healthz (200 while the process answers) and /readyz
(200 once the store is open and, unless --offline, the peer's consumer is
bound, connected and present; 503 with the reason otherwise).

With --exchange-key (the exchange's public key, 'cofswitch config
signing-key' prints it) each batch's Cofswitch-Exchange-Signature is
verified before it is applied: a batch unsigned, altered or signed by
another key is not applied, is logged (once a minute), counted
(cofswitch_db_unverified_batches_total) and terminated: never offered
again, it stays in the stream until its max_age.`, api.DefaultLoginBurst, api.DefaultLoginEvery, api.DefaultLoginLogEvery, api.MaxOffset, api.DefaultLimit),
		flags: func(fs *flag.FlagSet) any {
			f := &dbFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required unless --offline)")
			addExchangeKeyFlag(fs, &f.exchangeKey)
			addStoreFlags(fs, f)
			fs.BoolVar(&f.offline, "offline", false, "bind no feed: answer from the store as it is (no exchange needed)")
			fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8053", "query API `address`")
			fs.StringVar(&f.consumer, "consumer", routing.PeerConsumer, "the durable consumer `name` to bind")
			fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` (default "+accounts.APIPrefix+" with --nkey or --creds)")
			fs.StringVar(&f.keysFile, "api-keys", "", "`file` of API keys, one per line")
			fs.StringVar(&f.usersFile, "users", "", "htpasswd `file` of users for HTTP Basic (bcrypt: htpasswd -B)")
			fs.DurationVar(&f.every, "checkpoint", 5*time.Second, "how often to make the store durable and ack what it holds")
			fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on this `address` (e.g. 127.0.0.1:9464); empty: off")
			fs.IntVar(&f.sensorQuota, "max-rrsets-per-sensor", db.DefaultSensorQuota, "most rrsets one sensor_id may create in the disk store; past it its new rrsets are refused and counted (0: no bound)")
			addAPILimitFlags(fs, &f.limits)
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
	switch {
	case f.peer == "" && !f.offline:
		return usageErrorf("--peer is required (or --offline, to answer from the store without a feed)")
	case f.peer != "":
		if err := routing.ValidateID("peer", f.peer, true); err != nil {
			return usageErrorf("--peer: %v", err)
		}
	}
	log, err := f.log.logger(io)
	if err != nil {
		return err
	}
	if err := api.CheckOptions(f.limits.options()...); err != nil {
		return usageErrorf("%v", err)
	}
	creds, err := api.LoadCredentials(f.keysFile, f.usersFile, os.Getenv("COFSWITCH_DB_API_KEYS"))
	if err != nil {
		if errors.Is(err, api.ErrNoCredentials) {
			err = fmt.Errorf("%w: give --api-keys, --users or COFSWITCH_DB_API_KEYS", err)
		}
		return usageErrorf("%v", err)
	}
	// Served before the store loads (a large snapshot takes a while), so
	// that /readyz says what the process waits for.
	guard, err := exchangeGuard(f.exchangeKey, "db", log)
	if err != nil {
		return err
	}
	ob, err := startDBOps(f.metrics, log, guardCollectors(guard)...)
	if err != nil {
		return err
	}
	defer ob.close()
	st, err := openStore(ctx, f, log)
	if err != nil {
		return err
	}
	defer st.Close()
	disk := limitSensors(st, f.sensorQuota, log)
	if f.peer != "" {
		applied, _ := st.Store.Applied(ctx, routing.PeerStream(f.peer))
		log.Info("store ready", "postgres", f.postgres != "", "applied_through", applied, "offline", f.offline)
	} else {
		log.Info("store ready", "postgres", f.postgres != "", "offline", f.offline)
	}
	ob.offline = f.offline
	ob.store.Store(st)
	if f.offline {
		stopAPI, err := serveQueryAPI(ctx, f, st.Store, creds, ob.queries, log)
		if err != nil {
			return err
		}
		<-ctx.Done()
		stopAPI()
		log.Info("db stopped")
		return nil
	}

	nc, cons, err := f.nats.bindPeerFeed(ctx, "cofswitch-db", log, f.peer, f.apiPrefix, f.consumer)
	if err != nil {
		return err
	}
	defer nc.Close()
	ob.feed.Store(&boundFeed{nc: nc, cons: cons})
	stopAPI, err := serveQueryAPI(ctx, f, st.Store, creds, ob.queries, log)
	if err != nil {
		return err
	}
	defer stopAPI()
	in := &ingest.Ingester{Consumer: cons, Stream: routing.PeerStream(f.peer), Store: st.Store, Save: st.Save, Every: f.every, Log: log, Metrics: ob.ingest, Guard: guard}
	err = in.Run(ctx)
	stats := in.Stats()
	refused := map[string]uint64{}
	if disk != nil {
		refused = disk.Refused()
	}
	unsigned, bad := guard.Refused()
	log.Info("db stopped", "batches", stats.Batches, "records", stats.Records, "skipped", stats.Skipped, "refused_over_quota", refused,
		"unsigned", unsigned, "bad_signature", bad)
	return err
}

// limitSensors sets the disk store's quota of rrsets per sensor and
// returns that store (nil for PostgreSQL, which has none).
func limitSensors(st *db.Opened, quota int, log *slog.Logger) *db.DiskStore {
	disk, _ := st.Store.(*db.DiskStore)
	if disk != nil && quota > 0 {
		disk.SetSensorQuota(quota, func(sensor string) {
			log.Warn("a sensor reached its quota of rrsets: its new rrsets are refused (records of known rrsets still merge)",
				"sensor_id", sensor, "quota", quota)
		})
	}
	return disk
}

// addStoreFlags adds the flags that choose and size the store.
func addStoreFlags(fs *flag.FlagSet, f *dbFlags) {
	fs.StringVar(&f.store, "store", "cofswitch-db", "store `directory` (disk store)")
	fs.StringVar(&f.postgres, "postgres", "", "PostgreSQL `DSN`: keep the rrsets there instead of the disk store")
	fs.Int64Var(&f.cacheBytes, "cache-bytes", db.DefaultCacheBytes, "block cache of the disk store in `bytes`")
	fs.Int64Var(&f.memtableBytes, "memtable-bytes", db.DefaultMemTableBytes, "size of one memtable of the disk store in `bytes` (up to two are held)")
}

// serveQueryAPI answers the query APIs on --http until the returned stop
// is called (it waits for the server to finish).
func serveQueryAPI(ctx context.Context, f *dbFlags, store db.Store, creds api.Credentials, m *api.Metrics, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: "--http: " + err.Error()}
	}
	srv, err := api.New(store, creds, append(f.limits.options(), api.WithLogger(log), api.WithMetrics(m))...)
	if err != nil {
		ln.Close()
		return nil, usageErrorf("%v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(sctx, ln); err != nil {
			log.Error("query API stopped", "err", err)
		}
	}()
	log.Info("query API ready", "url", "http://"+ln.Addr().String(), "dnsdb", "/dnsdb/v2", "circl", "/pdns/query",
		"max_conns", f.limits.maxConns, "rate_limit", f.limits.rate.String(), "burst", f.limits.burst)
	return func() { cancel(); <-served }, nil
}

// openStore opens the store the flags name; a directory that cannot be
// used exits 2, any other failure 1.
func openStore(ctx context.Context, f *dbFlags, log *slog.Logger) (*db.Opened, error) {
	if f.cacheBytes < 1<<20 || f.memtableBytes < 1<<20 {
		return nil, usageErrorf("--cache-bytes and --memtable-bytes: want 1 MiB (1048576) or more")
	}
	st, err := db.Open(ctx, db.OpenOptions{
		Dir: f.store, PostgresDSN: f.postgres, Log: log,
		Disk: db.DiskOptions{CacheBytes: f.cacheBytes, MemTableBytes: f.memtableBytes, Logger: log},
	})
	switch {
	case errors.Is(err, db.ErrStoreDir):
		return nil, &exitError{code: exitUsage, msg: err.Error()}
	case err != nil:
		return nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	return st, nil
}
