// Package logformat reads the logs of passive DNS sensors and turns each
// line into COF records (cof.Record), for a sensor site that runs one of
// these tools instead of cofswitch's own capture.
//
// One Parser per format, chosen by name with ByName:
//
//	passivedns       gamelinux/passivedns "||" log lines (and -f layouts)
//	passivedns-json  gamelinux/passivedns -j JSON lines
//	gopassivedns     Phillipmartin/gopassivedns JSON lines
//	eve              Suricata EVE JSON, dns events (versions 1, 2 and 3)
//	zeek             Zeek dns.log, TSV with its header
//	zeek-json        Zeek dns.log as JSON
//	cof              COF NDJSON, passed through cof.Parser
//
// # What every parser produces
//
// One record per answer (one resource record), never an RRset built from
// several answers: the formats that log one answer per line cannot build
// sets, and the same observation must look the same whichever tool saw
// it. sensor/aggregate merges identical observations afterwards.
//
//   - rrname: the answer's owner, as cof.Parse normalises it (lower case,
//     no trailing dot, A-labels), the root as ".";
//   - rrtype: the answer's type (mnemonics, TYPEnnn and bare numbers are
//     read);
//   - rdata: one element, in presentation form: A and AAAA canonical
//     (RFC 5952), names normalised like rrname ("10 mx.example.com"), TXT
//     as quoted strings with \DDD escapes, MX, SRV and SOA checked field
//     by field; other types as the format wrote them, if that is text;
//   - time_first = time_last = the observation, in whole seconds;
//   - count: only passivedns has one (its n field);
//   - never sensor_id (the sensor command sets its own; COF input loses
//     its own), never a client or server address, never a TTL.
//
// # What is skipped (Stats.Skipped, no error)
//
// Comments, headers, blank lines, queries and events of other kinds;
// responses whose rcode is not NOERROR unless WithErrorResponses is given
// (passivedns and gopassivedns log no answers for those at all, only the
// rcode, so their error lines are always skipped); classes other than IN;
// responses without answers; NetBIOS, mDNS and LLMNR responses in Zeek's
// log; rdata a format logs only in part: passivedns, Suricata and Zeek
// log only the exchange of an MX, passivedns and Zeek only the target of
// an SRV and the primary of an SOA, Suricata marks truncated names. No
// preference or serial is invented for them.
//
// # Owners the formats do not log
//
// gopassivedns logs each answer under the question's name, Zeek logs the
// answers of a response as bare strings without owner or type, and
// Suricata's "grouped" form groups rdata by type without owners. The
// parsers rebuild the owners from the CNAME chain: resolvers send the
// chain in order, so the first CNAME belongs to the question's name, each
// next one to the previous target, and the other answers to the end of
// the chain. For Zeek the type of a bare name is inferred from the
// question's type; see zeekMap for the rules.
//
// # passivedns field letters
//
// WithFields takes passivedns's -f letters: H (date and time, local), S
// (seconds), M (microseconds), h (hostname), c (client), w (client MAC),
// s (server), W (server MAC), p (protocol), C (class), Q (query), L
// (query length), T (type), A (answer), l (answer length), t (TTL), n
// (count). Like passivedns itself, the columns come in this fixed order
// whatever the order of the letters; H or S, Q, T and A are required.
// The answer column may hold the delimiter (a TXT string): the columns
// before it are cut from the left, those after it from the right.
//
// # Errors
//
// A line in error returns an *Error naming the format, the field and the
// reason, wrapping a sentinel (ErrSyntax, ErrBadRData...) for errors.Is;
// ParseAll adds line numbers. A bad answer does not lose the other
// answers of its line. No input makes a parser panic, and every record
// it emits is one cof.Parse accepts and writes back byte for byte (the
// fuzz targets check both).
package logformat
