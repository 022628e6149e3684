package config

import (
	"strconv"
	"time"
)

// DefaultArchive fills the unset limits of an archive that is on
// (streams.archive.max_age set): the oldest batches are evicted first.
var DefaultArchive = StreamLimits{Discard: "old"}

// ArchiveOn reports whether COF_ARCHIVE is configured: streams.archive
// has a max_age. It is off by default because it keeps every sensor's
// records as sent, before any policy anonymised them, for max_age: a
// retention of raw data the operator decides on, and disk it pays for
// (see the README's Backfill section for bytes a day).
func (s Streams) ArchiveOn() bool { return s.Archive.MaxAge > 0 }

// validateArchive checks streams.archive and the subscriptions' backfill.
func (c *Config) validateArchive(bad func(string, string, ...any)) {
	a := c.Streams.Archive
	if !c.Streams.ArchiveOn() && (a.MaxBytes != 0 || a.MaxMsgs != 0 || a.MaxMsgsPerSubject != 0 || a.Discard != "") {
		bad("streams.archive.max_age", "the archive is on only with a max_age: set one, or remove streams.archive")
	}
	if c.Streams.ArchiveOn() {
		a.check("streams.archive", bad)
		if a.Discard != "old" || a.MaxMsgsPerSubject != 0 {
			bad("streams.archive", "must discard old, without max_msgs_per_subject: a full archive evicts its oldest batches, never the switch's input")
		}
	}
	for i, p := range c.Peers {
		for j, sub := range p.Subscriptions {
			if sub.Backfill == 0 {
				continue
			}
			path := "peers[" + strconv.Itoa(i) + "].subscriptions[" + strconv.Itoa(j) + "].backfill"
			switch {
			case !c.Streams.ArchiveOn():
				bad(path, "needs the input archive: set streams.archive.max_age")
			case time.Duration(sub.Backfill) > time.Duration(a.MaxAge):
				bad(path, "%v reaches beyond the archive's max_age (%v)", time.Duration(sub.Backfill), time.Duration(a.MaxAge))
			}
		}
	}
}

// Backfill is the longest backfill of the peer's subscriptions (0: none),
// run when its stream is first made.
func (p Peer) Backfill() time.Duration {
	var d time.Duration
	for _, s := range p.Subscriptions {
		d = max(d, time.Duration(s.Backfill))
	}
	return d
}
