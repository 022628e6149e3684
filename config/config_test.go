package config

import (
	"strings"
	"testing"
	"time"
)

const good = `
nats:
  listen: 127.0.0.1:14222
streams:
  duplicate_window: 10m
  peers:
    max_age: 2d
    max_bytes: 512MiB
sensors:
  - id: org-a-s1
    organisation: org-a
    relays: [org-a-edge-1]
  - id: org-b/s1
    organisation: org-b
peers:
  - id: peer-b
    organisation: org-b
    stream: {discard: new, max_bytes: 1GB}
    subscriptions:
      - sensors: ["org-a-*"]
        policy: pass
        tlp: GREEN
  - id: peer-c
    organisation: org-c
    subscriptions:
      - sensors: ["*"]
        policy: pass
        tlp: clear
  - id: peer-b-own
    organisation: org-b
    subscriptions:
      - sensors: ["org-b/s1"]
`

func TestParseGood(t *testing.T) {
	c, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Listen != "127.0.0.1:14222" || time.Duration(c.Streams.DuplicateWindow) != 10*time.Minute {
		t.Errorf("nats/streams: %+v %+v", c.NATS, c.Streams)
	}
	b, cc := c.Peers[0].Stream, c.Peers[1].Stream
	if b.Discard != "new" || b.MaxBytes != 1e9 || time.Duration(b.MaxAge) != 48*time.Hour {
		t.Errorf("peer-b stream: %+v (explicit values, then streams.peers defaults)", b)
	}
	if cc.Discard != "old" || cc.MaxBytes != 512<<20 {
		t.Errorf("peer-c stream: %+v (streams.peers defaults)", cc)
	}
	if c.Peers[2].Subscriptions[0].Policy != PassPolicy {
		t.Errorf("default policy within an organisation: %q", c.Peers[2].Subscriptions[0].Policy)
	}
	if c.Streams.In.Discard != "new" || c.Switch.Workers != DefaultWorkers {
		t.Errorf("defaults not applied: %+v %+v", c.Streams.In, c.Switch)
	}
	// Each sensor's stream takes streams.in unless it says otherwise.
	for _, s := range c.Sensors {
		if s.Stream.MaxBytes != DefaultIn.MaxBytes || s.Stream.Discard != "new" || s.Stream.MaxMsgs != DefaultIn.MaxMsgs {
			t.Errorf("sensor %s stream: %+v", s.ID, s.Stream)
		}
	}
	tab, err := c.Table()
	if err != nil {
		t.Fatal(err)
	}
	if rs := tab.Routes("org-a-edge-1"); len(rs) != 2 {
		t.Errorf("routes for a relayed sensor: %v", rs)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear
	}{
		{name: "unknown key", yaml: "nats:\n  listn: x\n", want: []string{`f.yaml:2: unknown key "listn" (did you mean "listen"?)`}},
		{name: "unknown top-level key", yaml: "peerz: []\n", want: []string{`f.yaml:1: unknown key "peerz" (did you mean "peers"?)`}},
		{name: "bad duration", yaml: "streams:\n  duplicate_window: soon\n", want: []string{"f.yaml:2:", `bad duration "soon"`}},
		{name: "bad size", yaml: "streams:\n  in:\n    max_bytes: lots\n", want: []string{"f.yaml:3:", `bad size "lots"`}},
		{name: "wrong type", yaml: "switch:\n  workers: many\n", want: []string{"f.yaml:2:", "is not a whole number"}},
		{name: "not yaml", yaml: "nats: [\n", want: []string{"f.yaml"}},
		{name: "monitor beyond loopback", yaml: "nats:\n  monitor: 0.0.0.0:8222\n", want: []string{"f.yaml:2: nats.monitor:", "beyond loopback"}},
		{name: "duplicate peer", yaml: "peers:\n  - id: p\n    subscriptions: [{sensors: ['*']}]\n  - id: p\n    subscriptions: [{sensors: ['*']}]\n",
			want: []string{`f.yaml:4: peers[1].id: peer "p" is defined twice`}},
		{name: "unsafe peer id", yaml: "peers:\n  - id: p.x\n    subscriptions: [{sensors: ['*']}]\n", want: []string{"f.yaml:2: peers[0].id", "may hold only"}},
		{name: "unknown policy", yaml: "peers:\n  - id: p\n    subscriptions:\n      - sensors: ['*']\n        policy: strict\n",
			want: []string{`f.yaml:5: peers[0].subscriptions[0].policy: unknown policy "strict"`}},
		{name: "no subscriptions", yaml: "peers:\n  - id: p\n", want: []string{`peers[0].subscriptions: peer "p" subscribes to nothing`}},
		{name: "no sensors", yaml: "peers:\n  - id: p\n    subscriptions:\n      - policy: pass\n", want: []string{"peers[0].subscriptions[0].sensors: no sensors"}},
		{name: "bad discard", yaml: "streams:\n  dlq:\n    discard: sometimes\n", want: []string{`f.yaml:3: streams.dlq.discard: "sometimes" is not old or new`}},
		{name: "bad listen", yaml: "nats:\n  listen: 4222\n", want: []string{`f.yaml:2: nats.listen: "4222" is not host:port`}},
		{name: "duplicate sensor", yaml: "sensors:\n  - id: s\n  - id: s\n", want: []string{`f.yaml:3: sensors[1].id: sensor "s" is defined twice`}},
		{name: "empty sensor id", yaml: "sensors:\n  - organisation: x\n", want: []string{"sensors[0].id: sensor id is empty"}},
		{name: "replicas", yaml: "streams:\n  replicas: 7\n", want: []string{"streams.replicas: 7 is not in 1..5"}},
		{name: "duplicate window too short", yaml: "streams:\n  duplicate_window: 1m\n", want: []string{"f.yaml:2: streams.duplicate_window: 1m0s is shorter than the 3m50s"}},
		{name: "output encoding", yaml: "switch:\n  output_encoding: gzip\n", want: []string{`f.yaml:2: switch.output_encoding: "gzip" is not s2, zstd, none or input`}},
		{name: "ack wait too short", yaml: "switch:\n  ack_wait: 100ms\n", want: []string{"switch.ack_wait: 100ms is below 1s"}},
		{name: "reserved organisation", yaml: "sensors:\n  - {id: s, organisation: _sensor_x}\n", want: []string{"sensors[0].organisation", "reserved"}},
		{name: "require_signature without nkey", yaml: "sensors:\n  - id: s\n    require_signature: true\n",
			want: []string{"f.yaml:3: sensors[0].require_signature: needs the sensor's nkey"}},
		{name: "creds and nkey", yaml: "nats:\n  creds: a\n  nkey: b\n", want: []string{"give creds or nkey, not both"}},
		{name: "a DLQ byte limit that cannot hold every share", yaml: "sensors: [{id: a}, {id: b}]\nstreams:\n  dlq:\n    max_bytes: 100MiB\n    max_msgs_per_subject: 100\n",
			want: []string{"f.yaml:4: streams.dlq.max_bytes", "2 sensors x 100 messages x 1 MiB", "could evict another's"}},
		{name: "a DLQ byte limit without per-sensor shares", yaml: "streams:\n  dlq:\n    max_bytes: 1GiB\n    max_msgs_per_subject: -1\n",
			want: []string{"streams.dlq.max_msgs_per_subject: must be set with streams.dlq.max_bytes"}},
		{name: "a negative sensor rate", yaml: "sensors:\n  - {id: a, rate: -5}\n", want: []string{"f.yaml:2:", `bad size "-5"`}},
		{name: "a bad sensor stream", yaml: "sensors:\n  - {id: a, stream: {discard: never}}\n", want: []string{`sensors[0].stream.discard: "never" is not old or new`}},
		{name: "several errors at once", yaml: "sensors:\n  - id: ''\npeers:\n  - id: 'a b'\n    subscriptions: [{sensors: ['*']}]\n",
			want: []string{"sensors[0].id", "peers[0].id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSensorLimits(t *testing.T) {
	c, err := Parse("s.yaml", []byte(`
streams:
  in: {max_bytes: 32MiB}
  dlq: {max_bytes: 1GiB, max_msgs_per_subject: 100}
switch: {sensor_rate: 2MiB}
sensors:
  - {id: a}
  - {id: b, rate: 10MiB, stream: {max_bytes: 8MiB, max_age: 1h}}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Sensors[0], c.Sensors[1]
	if a.Rate != 2<<20 || a.Stream.MaxBytes != 32<<20 || a.Stream.MaxMsgs != DefaultIn.MaxMsgs {
		t.Errorf("sensor a: %+v", a)
	}
	if b.Rate != 10<<20 || b.Stream.MaxBytes != 8<<20 || time.Duration(b.Stream.MaxAge) != time.Hour || b.Stream.Discard != "new" {
		t.Errorf("sensor b: %+v", b)
	}
	tab, err := c.Table()
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tab.Sensor("b"); s.Rate != 10<<20 {
		t.Errorf("the routing table's sensor b: %+v", s)
	}
}

func TestEmptyConfigIsValid(t *testing.T) {
	c, err := Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Listen != DefaultListen {
		t.Errorf("listen default: %q", c.NATS.Listen)
	}
}

func TestUnits(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "1KiB": 1024, "10 MB": 10e6, "2GiB": 2 << 30, "1TB": 1e12, "5B": 5} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5GB", "GB", "1 PB", "99999999999TiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "72h": 72 * time.Hour, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-1h", "1.5d", "d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}
