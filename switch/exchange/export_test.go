package exchange

// WarnCleartext exposes warnCleartext to the tests: a listener beyond
// loopback cannot be opened here to see it from StartEmbedded.
var WarnCleartext = warnCleartext
