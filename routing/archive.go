package routing

// The input archive and the backfill's progress (see switch/backfill).
const (
	// ArchivePrefix: cof.archive.<sensor>, every input batch the switch
	// accepted, as the sensor sent it. The operator's alone.
	ArchivePrefix = "cof.archive."
	// ArchiveStream keeps the archive, with limits retention.
	ArchiveStream = "COF_ARCHIVE"
	// BackfillBucket is the key-value bucket of the backfill's progress:
	// one key per peer, the archive sequences already delivered to it.
	BackfillBucket = "COF_BACKFILL"
)

// ArchiveSubject is where the switch archives sensorID's input.
func ArchiveSubject(sensorID string) string { return ArchivePrefix + EscapeToken(sensorID) }

// BackfillKey is the key of a peer's progress in BackfillBucket: its
// stream's name, which holds only key-safe bytes (peer ids are checked
// for that).
func BackfillKey(peerID string) string { return PeerStream(peerID) }
