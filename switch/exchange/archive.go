package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
)

// ArchiveStreamConfig is COF_ARCHIVE: every input batch the switch
// accepted, as its sensor sent it, kept under limits retention for
// streams.archive's max_age and max_bytes (the oldest evicted first), for
// cofswitch backfill. Only the exchange's account reaches it.
func ArchiveStreamConfig(streams config.Streams) jetstream.StreamConfig {
	sc := streamConfig(streams, routing.ArchiveStream, []string{routing.ArchivePrefix + ">"}, streams.Archive)
	sc.Description = "cofswitch input archive: every switched batch as its sensor sent it, for backfills; the operator's alone"
	// Batches are kept as the sensors compressed them (as in their input
	// streams): compressing them again at rest costs CPU for little.
	sc.Compression = jetstream.NoCompression
	return sc
}

// BackfillBucketConfig is the key-value bucket of the backfills' progress
// (one key per peer: the archive sequences delivered to it).
func BackfillBucketConfig(streams config.Streams) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      routing.BackfillBucket,
		Description: "cofswitch backfill progress: per peer, the archive sequences already delivered",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    streams.Replicas,
	}
}

// ensureBackfillBucket creates the progress bucket unless it exists.
func ensureBackfillBucket(ctx context.Context, js jetstream.JetStream, streams config.Streams) error {
	return retrying(ctx, func(ctx context.Context) error {
		_, err := js.KeyValue(ctx, routing.BackfillBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			_, err = js.CreateKeyValue(ctx, BackfillBucketConfig(streams))
			if errors.Is(err, jetstream.ErrBucketExists) {
				err = nil // another process made it
			}
		}
		if err != nil && !transient(err) {
			return fmt.Errorf("exchange: backfill bucket: %w", err)
		}
		return err
	})
}
