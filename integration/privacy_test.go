package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/cof"
)

// peerView is what a peer reads from its own stream with its own seed.
type peerView struct {
	headers []nats.Header
	stored  []time.Time
	records []cof.Record
	bodies  []string
}

// readAsPeer drains a peer's stream through its consumer, with its seed.
func readAsPeer(t *testing.T, url, peer, seed string, want int) peerView {
	t.Helper()
	kp := seedKey(t, seed)
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(url, nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(accounts.PeerInbox(peer)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.NewWithAPIPrefix(nc, accounts.APIPrefix)
	if _, err := js.Stream(t.Context(), "COF_HOLD"); err == nil {
		t.Errorf("%s can see the hold stream", peer)
	}
	cons, err := js.Consumer(t.Context(), "PEER_"+peer, "sink")
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	br := codec.NewBatchReader()
	var v peerView
	waitFor(t, peer+"'s records", 30*time.Second, func() bool {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			meta, _ := m.Metadata()
			v.headers, v.stored = append(v.headers, m.Headers()), append(v.stored, meta.Timestamp)
			enc, _ := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
			if err := br.Reset(m.Data(), enc); err != nil {
				t.Fatal(err)
			}
			v.bodies = append(v.bodies, string(br.Body()))
			for br.Next() {
				if r := br.Record(); r != nil {
					v.records = append(v.records, *r)
				}
			}
			_ = m.Ack()
		}
		return len(v.records) >= want
	})
	return v
}

// TestStrictPeerLearnsOnlyWhatItsPolicyGrants runs the exchange with two
// peers of other organisations under a strict policy that holds to a 2 s
// bucket, publishes records written to catch leaks, and reads what each
// peer receives with its own seed: headers, bodies and timestamps.
func TestStrictPeerLearnsOnlyWhatItsPolicyGrants(t *testing.T) {
	dir := t.TempDir()
	sSeed, sPub := makeCreds(t, dir, "sensor", "org-a-s1")
	p1Seed, p1Pub := makeCreds(t, dir, "peer", "strict-1")
	p2Seed, p2Pub := makeCreds(t, dir, "peer", "strict-2")
	key := filepath.Join(dir, "pseudo.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	cfg := filepath.Join(dir, "c.yaml")
	yaml := fmt.Sprintf(`nats:
  listen: %s
policies:
  strict:
    tlp: AMBER
    exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose], embedded_cidrs: [special-purpose]}
    transforms:
      pseudonymise_sensor: {key_file: %q}
      hash_labels: {key_file: %q}
      truncate_ip: {ipv4: 24, ipv6: 48}
      coarsen_time: 2s
      keep_fields: []
sensors:
  - {id: org-a-s1, organisation: org-a, nkey: %s}
peers:
  - {id: strict-1, organisation: org-b, nkey: %s, subscriptions: [{sensors: ["org-a-*"], policy: strict}]}
  - {id: strict-2, organisation: org-c, nkey: %s, subscriptions: [{sensors: ["org-a-*"], policy: strict}]}
`, listen, key, key, sPub, p1Pub, p2Pub)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sw := start(t, "serve", "--config", cfg, "--data", filepath.Join(dir, "data"), "--reload-check", "0")
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	url := "nats://" + listen

	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, `{"rrname":"w%d.example.com","rrtype":"A","rdata":"93.184.216.%d","time_first":1700000001,"time_last":1700000003,"seen_at":"2023-11-14T22:13:21.123Z","client_ip":"10.9.8.7","sensor_hostname":"resolver-7.corp"}`+"\n", i, i+1)
	}
	// Each of these hides an internal name or a private address: none may
	// reach a strict peer.
	for _, leak := range []string{
		`"rrname":"www.example.com","rrtype":"CNAME","rdata":"printer.corp."`,
		`"rrname":"5.216.184.93.in-addr.arpa","rrtype":"PTR","rdata":"laptop.local."`,
		`"rrname":"example.com","rrtype":"MX","rdata":"10 db-1.internal."`,
		`"rrname":"_ldap._tcp.example.com","rrtype":"SRV","rdata":"0 5 389 dc1.lan."`,
		`"rrname":"example.com","rrtype":"NS","rdata":"ns.home.arpa."`,
		`"rrname":"svc.example.com","rrtype":"HTTPS","rdata":"1 edge.corp. alpn=h2"`,
		`"rrname":"example.com","rrtype":"TXT","rdata":"\"v=spf1 ip4:10.1.2.3 -all\""`,
		`"rrname":"six.example.com","rrtype":"AAAA","rdata":"2002:a01:203::1"`,
		`"rrname":"nat.example.com","rrtype":"AAAA","rdata":"64:ff9b::c0a8:105"`,
		`"rrname":"host-192-168-1-5.example.com","rrtype":"A","rdata":"93.184.216.34"`,
		`"rrname":"10.1.2.3.nip.io","rrtype":"A","rdata":"10.1.2.3"`,
		`"rrname":"ip-0a010203.example.net","rrtype":"A","rdata":"93.184.216.35"`,
		`"rrname":"x.example.com","rrtype":"CNAME","rdata":"10-1-2-3.sslip.io."`,
	} {
		fmt.Fprintf(&in, `{%s,"time_first":1700000001,"time_last":1700000003}`+"\n", leak)
	}
	// A host named after a person: hash_labels hides it.
	in.WriteString(`{"rrname":"annas-laptop.example.com","rrtype":"A","rdata":"93.184.216.77","time_first":1700000001,"time_last":1700000003}` + "\n")
	// Seen once, exactly on a bucket boundary: still widened to the bucket.
	in.WriteString(`{"rrname":"edge.example.com","rrtype":"A","rdata":"93.184.216.99","time_first":1700000000,"time_last":1700000000}` + "\n")
	published := time.Now()
	if _, stderr, code := run(t, []byte(in.String()), "publish", "--sensor", "org-a-s1", "--nats-url", url, "--nkey", sSeed, "--batch", "7"); code != 0 {
		t.Fatalf("publish: %s", stderr)
	}
	views := map[string]peerView{
		"strict-1": readAsPeer(t, url, "strict-1", p1Seed, 22),
		"strict-2": readAsPeer(t, url, "strict-2", p2Seed, 22),
	}
	// Cofswitch-Exchange-Signature signs what the peer holds (with
	// others of its own outputs), bound to its own subject: it tells
	// nothing more, and joins no two peers (checked below like the ids);
	// nor does the proof, salted for each output.
	allowed := map[string]bool{"Nats-Msg-Id": true, "Cofswitch-TLP": true, "Cofswitch-Records": true, "Content-Encoding": true,
		"Cofswitch-Policy-Version": true, "Nats-Expected-Stream": true, "Cofswitch-Exchange-Signature": true, "Cofswitch-Exchange-Proof": true}
	ids := map[string]string{}
	firstBucketEnd := time.Unix(published.Unix()-published.Unix()%2+2, 0)
	for peer, v := range views {
		for i, h := range v.headers {
			for name, vals := range h {
				if !allowed[name] {
					t.Errorf("%s sees header %s=%v", peer, name, vals)
				}
				if strings.Contains(vals[0], "org-a") {
					t.Errorf("%s: header %s names the sensor: %q", peer, name, vals[0])
				}
			}
			for _, name := range []string{"Nats-Msg-Id", "Cofswitch-Exchange-Signature", "Cofswitch-Exchange-Proof"} {
				id := h.Get(name)
				if id == "" {
					t.Errorf("%s: no %s", peer, name)
				}
				// A signature may cover several of one peer's batches.
				if other, ok := ids[id]; ok && (other != peer || name != "Cofswitch-Exchange-Signature") {
					t.Errorf("%s and %s can join on %s %q", other, peer, name, id)
				}
				ids[id] = peer
			}
			// Released when a bucket ended, no earlier than the first
			// bucket end after the publish, and soon after a boundary.
			ts := v.stored[i]
			boundary := time.Unix(ts.Unix()-ts.Unix()%2, 0)
			if ts.Before(firstBucketEnd) || ts.Sub(boundary) > 1500*time.Millisecond {
				t.Errorf("%s: stored at %v: not just after a 2 s boundary at or after %v", peer, ts, firstBucketEnd)
			}
		}
		for _, body := range v.bodies {
			for _, leak := range []string{"org-a-s1", "seen_at", "client_ip", "sensor_hostname", "10.9.8.7", ".123", "1700000001", "1700000003",
				"corp", "local", "internal", "lan", "home.arpa", "2002:", "64:ff9b", "192-168", "nip.io", "0a010203", "sslip", "annas", "laptop", "ldap"} {
				if strings.Contains(body, leak) {
					t.Errorf("%s's body holds %q: %s", peer, leak, body)
				}
			}
		}
		for _, r := range v.records {
			if r.TimeFirst%2 != 0 || r.TimeLast%2 != 0 || r.TimeLast-r.TimeFirst < 2 || !strings.HasPrefix(r.SensorID, "pseudo-") {
				t.Errorf("%s: %+v: times not widened to 2 s buckets or sensor in clear", peer, r)
			}
		}
		if len(v.records) != 22 {
			t.Errorf("%s got %d records, want 22: the 20 plain, the person's host hashed and the edge", peer, len(v.records))
		}
	}
	// Every leak above was withheld by the policy, not dead-lettered as
	// invalid (which would prove nothing): the operator sees no dead letter.
	op := seedKey(t, filepath.Join(dir, "data", "switch.nk"))
	opPub, _ := op.PublicKey()
	onc, err := nats.Connect(url, nats.Nkey(opPub, op.Sign))
	if err != nil {
		t.Fatal(err)
	}
	defer onc.Close()
	ojs, _ := jetstream.New(onc)
	if n := streamMsgs(t, ojs, "COF_DLQ"); n != 0 {
		t.Errorf("%d dead letters: some leak records were invalid, not withheld", n)
	}
	if contains(sw.output(), strings.Repeat("ab", 32)) {
		t.Error("the policy key appears in the log")
	}
}
