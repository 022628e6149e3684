// Package demo is the built-in demo exchange that 'cofswitch serve' runs
// when given no configuration: a registry of sensors and peers, demo
// sensors that replay sample records into it, watchers that log what
// each peer receives and what is dead-lettered, and once, per peer, an
// example of what its policy changed in those records and what it
// withheld, by rule. It imports cof, routing, config, policy and
// switch/engine.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

//go:embed exchange.yaml
var exchangeYAML []byte

//go:embed records.ndjson
var recordsNDJSON []byte

// Config returns the demo exchange's configuration.
func Config() (*config.Config, error) { return config.Parse("switch/demo/exchange.yaml", exchangeYAML) }

// spoofer is the demo sensor that publishes one record under another
// sensor's subject, to show the switch rejecting it.
const spoofer = "circl-feed"

// Batches returns the demo sensors' batches: the sample records grouped by
// the sensor that publishes them. One record is deliberately published by
// the wrong sensor, and one is invalid, so the dead-letter queue has
// something to show.
func Batches() map[string][]byte {
	out := map[string][]byte{}
	for _, line := range bytes.Split(bytes.TrimSpace(recordsNDJSON), []byte{'\n'}) {
		r, err := cof.Parse(line)
		sensor := ""
		switch {
		case err != nil:
			sensor = "cert-xy-resolver-2" // the invalid record's author
		case strings.HasPrefix(r.RRName, "spoofed."):
			sensor = spoofer
		case strings.HasPrefix(r.SensorID, "circl-feed"):
			sensor = "circl-feed"
		default:
			sensor = r.SensorID
		}
		out[sensor] = append(append(out[sensor], line...), '\n')
	}
	return out
}

// Run replays the demo batches every interval and logs what each peer
// receives, until ctx ends.
func Run(ctx context.Context, js jetstream.JetStream, cfg *config.Config, log *slog.Logger, interval time.Duration) {
	// Watchers start from "now": create them all before the first batch.
	streams := []string{routing.DLQStream}
	for _, p := range cfg.Peers {
		streams = append(streams, routing.PeerStream(p.ID))
	}
	for _, stream := range streams {
		l := log.With("stream", stream)
		if peer, ok := strings.CutPrefix(stream, routing.PeerStreamPrefix); ok {
			l = log.With("peer", peer)
		}
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			log.Error("demo watcher", "stream", stream, "err", err)
			continue
		}
		go watch(ctx, cons, stream, l)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		log.Error("demo", "err", err)
		return
	}
	defer codec.Close()
	ns, err := notes(cfg)
	if err != nil {
		log.Error("demo policies", "err", err)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for round := 1; ; round++ {
		for sensor, body := range Batches() {
			data, _ := codec.Compress(nil, body, cof.Zstd)
			m := nats.NewMsg(routing.InSubject(sensor))
			m.Data = data
			m.Header.Set("Content-Encoding", string(cof.Zstd))
			if _, err := js.PublishMsg(ctx, m); err != nil && ctx.Err() == nil {
				log.Error("demo sensor could not publish", "sensor", sensor, "err", err)
			}
		}
		log.Info("demo sensors published their batches", "round", round, "next_in", interval)
		if round == 1 {
			// Once: what each peer's policy does to these records.
			for _, n := range ns {
				n.log(log)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// watch logs every batch arriving on a stream from now on.
func watch(ctx context.Context, cons jetstream.Consumer, stream string, log *slog.Logger) {
	codec, err := cof.NewCodec()
	if err != nil {
		return
	}
	defer codec.Close()
	br := codec.NewBatchReader()
	it, err := cons.Messages()
	if err != nil {
		return
	}
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		m, err := it.Next()
		if engine.Recoverable(err) {
			continue
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				log.Error("demo watcher stopped", "err", err)
			}
			return
		}
		if stream == routing.DLQStream {
			for _, l := range bytes.Split(bytes.TrimSpace(m.Data()), []byte{'\n'}) {
				log.Warn("dead-lettered", "sensor", m.Headers().Get("Cofswitch-Sensor"), "entry", string(l))
			}
			continue
		}
		enc, _ := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
		if err := br.Reset(m.Data(), enc); err != nil {
			log.Error("undecodable delivery", "err", err)
			continue
		}
		var names []string
		for br.Next() {
			if r := br.Record(); r != nil {
				names = append(names, r.RRName+" "+r.RRType.String()+" from "+r.SensorID)
			}
		}
		log.Info("peer received", "records", len(names), "tlp", m.Headers().Get(engine.HeaderTLP),
			"records_seen", strings.Join(names, "; "))
	}
}
