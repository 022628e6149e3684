package config

import (
	"strings"
	"testing"
)

func TestArchiveConfig(t *testing.T) {
	const peer = "\npeers: [{id: p, subscriptions: [{sensors: ['*'], policy: pass, tlp: CLEAR, backfill: %s}]}]\n"
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{name: "off", yaml: "sensors: [{id: s}]\n"},
		{name: "on", yaml: "streams: {archive: {max_age: 30d, max_bytes: 10GB}}\n" + strings.Replace(peer, "%s", "7d", 1)},
		{name: "limits without max_age", yaml: "streams: {archive: {max_bytes: 10GB}}\n", err: "streams.archive.max_age: the archive is on only with a max_age"},
		{name: "discard new", yaml: "streams: {archive: {max_age: 1d, discard: new}}\n", err: "must discard old"},
		{name: "backfill without archive", yaml: strings.Replace(peer, "%s", "7d", 1), err: "backfill: needs the input archive"},
		{name: "backfill beyond the archive", yaml: "streams: {archive: {max_age: 1d}}\n" + strings.Replace(peer, "%s", "30d", 1), err: "720h0m0s reaches beyond the archive's max_age (24h0m0s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte("nats: {auth: none}\n"+tc.yaml))
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one saying %q", err, tc.err)
			case tc.name == "on" && (!c.Streams.ArchiveOn() || c.Streams.Archive.Discard != "old" || c.Peers[0].Backfill() != 7*24*3600e9):
				t.Fatalf("archive %+v, backfill %v", c.Streams.Archive, c.Peers[0].Backfill())
			case tc.name == "off" && c.Streams.ArchiveOn():
				t.Fatal("the archive is on by default")
			}
		})
	}
}
