package engine

import (
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// HeaderConfigVersion, on archived batches, is the version of the
// configuration (the registry and policies) the batch was switched under:
// a backfill skips those switched under the version it applies, which
// were delivered under it already.
const HeaderConfigVersion = "Cofswitch-Config-Version"

// WithArchive makes the switch keep every input batch it switches (not
// those dead-lettered whole) in the archive stream (routing.ArchiveStream,
// provisioned by the exchange), as the sensor sent it, before the batch
// is acked: the input streams are work queues, and cofswitch backfill
// re-evaluates the archive for a new peer or a widened policy. Off by
// default.
//
// JetStream can source a stream from a work queue, but the source's
// consumer reads asynchronously and a batch the switch acks first is gone
// before it is read: with nats-server 2.15.2, an archive sourced from an
// input kept 0 to 1,106 of 2,000 batches acked as they came (the
// exchange's TestSourcingAWorkQueueMissesAckedBatches). So the switch
// publishes the archive itself, as one more output of the batch.
func WithArchive() Option {
	return func(o *options) error {
		o.archive = true
		return nil
	}
}

// archive publishes the input batch in hand to the archive, with the
// outputs pubs already sent, when WithArchive is set. Its publish is
// awaited with theirs, as the exchange's own stream (like dead letters):
// a failure hands the batch back, so that no batch is acked unarchived.
func (w *worker) archive(pubs []pending, in Input, seq uint64, records int, version string) ([]pending, error) {
	if !w.e.o.archive {
		return pubs, nil
	}
	id := internalID("arc", in, seq, "", "", 0)
	if w.e.wasStored(id) {
		return append(pubs, pending{records: records, id: id, stored: true}), nil
	}
	m := nats.NewMsg(routing.ArchiveSubject(in.Sensor))
	m.Data = in.Msg.Data()
	// The archive is the operator's: the id in clear, like the DLQ's.
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(HeaderSensor, in.Sensor)
	m.Header.Set(HeaderInputSeq, strconv.FormatUint(seq, 10))
	m.Header.Set(HeaderConfigVersion, version)
	if enc := in.Msg.Headers().Get(HeaderEncoding); enc != "" {
		m.Header.Set(HeaderEncoding, enc)
	}
	fut, err := w.e.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.ArchiveStream))
	if err != nil {
		return pubs, err
	}
	return append(pubs, pending{records: records, fut: fut, id: id}), nil
}
