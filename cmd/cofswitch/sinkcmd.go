package main

import (
	"context"
	"flag"
	"net/http"
	"os"
	"time"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/ops"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/peers/sink"
	"github.com/cofswitch/cofswitch/routing"
)

type sinkFlags struct {
	peer, to, consumer, apiPrefix string
	httpEncoding                  string
	rotateBytes                   int64
	rotateEvery                   time.Duration
	metrics                       string
	exchangeKey                   string
	nats                          natsFlags
	log                           logFlags
}

func sinkCommand() *command {
	return &command{
		name:    "sink",
		summary: "deliver a peer's feed to its own destination",
		doc: `Run by the receiving organisation with its own credentials: pull the peer's
batches from its durable consumer (--consumer, provisioned by the switch)
and deliver each to --to, acking it only once the destination has
confirmed it. A crash, or a destination that fails, redelivers: nothing
is lost. Destinations:

  http://host/path, https://...  POST NDJSON (--http-encoding), with an
                                 Idempotency-Key header (the batch's
                                 Nats-Msg-Id: opaque, the same on every
                                 redelivery; stream:sequence without one);
                                 5xx retried with backoff and jitter, 4xx
                                 kept and retried slowly, both logged
  file:DIR                       rotating NDJSON.zst files (--rotate-bytes,
                                 --rotate-every), fsync before the ack
  stdout                         NDJSON on standard output

With --nkey or --creds it reaches the exchange's API through the prefix
the generated authorisation imports it under (--api-prefix). An HTTP
Authorization header can be given in COFSWITCH_SINK_AUTHORIZATION.

With --metrics it serves on that address: /metrics (batches and records
delivered, refusals, retries, the time of each attempt at the destination
by outcome; the list is in peers/README.md), /healthz (200 while the
process answers) and /readyz (200 while the peer's consumer is connected
and present and the destination can take a batch: an HTTP destination
reachable, a file directory writable; 503 with the reason otherwise).

With --exchange-key (the exchange's public key, 'cofswitch config
signing-key' prints it) each batch's Cofswitch-Exchange-Signature is
verified before delivery: a batch unsigned, altered or signed by another
key is not delivered, is logged (once a minute), counted
(cofswitch_sink_unverified_batches_total) and terminated: never offered
again, it stays in the stream until its max_age.`,
		flags: func(fs *flag.FlagSet) any {
			f := &sinkFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.StringVar(&f.to, "to", "", "the `destination` (required)")
			fs.StringVar(&f.consumer, "consumer", routing.PeerConsumer, "the durable consumer `name` to bind")
			fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` (default "+accounts.APIPrefix+" with --nkey or --creds, none otherwise)")
			fs.StringVar(&f.httpEncoding, "http-encoding", "gzip", "HTTP body encoding: gzip, zstd or identity")
			fs.Int64Var(&f.rotateBytes, "rotate-bytes", 64<<20, "start a new file after this many `bytes`")
			fs.DurationVar(&f.rotateEvery, "rotate-every", time.Hour, "start a new file after this long")
			fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on this `address` (e.g. 127.0.0.1:9464); empty: off")
			addExchangeKeyFlag(fs, &f.exchangeKey)
			addNATSFlags(fs, &f.nats, defaultURL)
			addLogFlags(fs, &f.log)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("sink takes no arguments")
			}
			return runSink(ctx, io, opts.(*sinkFlags))
		},
	}
}

func runSink(ctx context.Context, io stdio, f *sinkFlags) error {
	if f.peer == "" || f.to == "" {
		return usageErrorf("--peer and --to are required")
	}
	if err := routing.ValidateID("peer", f.peer, true); err != nil {
		return usageErrorf("--peer: %v", err)
	}
	log, err := f.log.logger(io)
	if err != nil {
		return err
	}
	guard, err := exchangeGuard(f.exchangeKey, "sink", log)
	if err != nil {
		return err
	}
	hdr := http.Header{}
	if v := os.Getenv("COFSWITCH_SINK_AUTHORIZATION"); v != "" {
		hdr.Set("Authorization", v)
	}
	attempts := sink.NewMetrics()
	dest, err := sink.Open(f.to, sink.Options{
		HTTP:    sink.HTTPOptions{Encoding: f.httpEncoding, Header: hdr},
		Files:   sink.FileOptions{MaxBytes: f.rotateBytes, MaxAge: f.rotateEvery},
		Stdout:  io.out,
		Metrics: attempts,
	})
	if err != nil {
		return usageErrorf("--to: %v", err)
	}
	defer dest.Close()
	nc, cons, err := f.nats.bindPeerFeed(ctx, "cofswitch-sink", log, f.peer, f.apiPrefix, f.consumer)
	if err != nil {
		return err
	}
	defer nc.Close()
	stream := routing.PeerStream(f.peer)
	r := &sink.Runner{Consumer: cons, Stream: stream, Sink: dest, Log: log, Metrics: attempts, Guard: guard}
	if f.metrics != "" {
		ready := func(ctx context.Context) error {
			if err := feed.Ready(ctx, nc, cons); err != nil {
				return err
			}
			return sink.Ready(ctx, dest)
		}
		m, err := ops.Serve(f.metrics, log, ready, append(guardCollectors(guard), sink.NewCollector(r), attempts)...)
		if err != nil {
			return &exitError{code: exitUsage, msg: "--metrics: " + err.Error()}
		}
		defer m.Close()
	}
	log.Info("sink running", "peer", f.peer, "consumer", f.consumer, "to", sink.Redact(f.to))
	err = r.Run(ctx)
	st := r.Stats()
	unsigned, bad := guard.Refused()
	log.Info("sink stopped", "batches", st.Batches, "records", st.Records, "refusals", st.Failures,
		"unsigned", unsigned, "bad_signature", bad)
	return err
}
