package exchange

// WarnCleartext exposes warnCleartext to the tests: a listener beyond
// loopback cannot be opened here to see it from StartEmbedded.
var WarnCleartext = warnCleartext

// SameConsumer exposes sameConsumer: whether EnsureStreams leaves a
// consumer alone at the next start.
var SameConsumer = sameConsumer

var (
	Transient = transient
	Retrying  = retrying
)

// SameStream exposes sameStream: whether EnsureStreams leaves a stream
// alone at the next start.
var SameStream = sameStream
