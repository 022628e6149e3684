// Package dnstap turns dnstap (https://dnstap.info) from resolvers and
// authoritative servers into passive DNS records in the Common Output
// Format: the "DNSTAP 2 COF" step of the FIRST Passive DNS SIG.
//
// # Inputs
//
// Frame Streams carries dnstap: ListenUnix serves a unix socket and
// ListenTCP a loopback TCP address, each with the bidirectional handshake
// (READY, ACCEPT, START, content type "protobuf:dnstap.Dnstap") that
// Unbound, Knot Resolver, BIND and PowerDNS expect, for several resolvers
// at once; ReadFile reads the unidirectional files that 'dnstap -w' and
// fstrm_capture write. Each decodes the frames into Messages for a
// Handler. A connection that sends garbage is closed and counted; the
// others go on.
//
// # Conversion
//
// A Converter turns a RESOLVER_RESPONSE or AUTH_RESPONSE (and, with
// WithClientResponses, a CLIENT_RESPONSE or FORWARDER_RESPONSE) into one
// record per RRset of the answer section (with WithAuthority and
// WithAdditional, of those sections too):
//   - rrname: the owner in lower case, without the trailing dot, octets
//     escaped as cof writes them (a space as \032);
//   - rrtype: the RR type; rdata: each RR's data in presentation form (MX
//     "10 mx.example.com", TXT as its quoted strings '"v=spf1 -all"'),
//     names in lower case without the trailing dot, sorted, duplicates
//     dropped;
//   - time_first = time_last: the response time, else the query time,
//     with time_first_ms and time_last_ms when the nanoseconds were given;
//   - count: 1; bailiwick: query_zone, when the message has one. RRs
//     whose owner is outside it are left out: a server may answer only
//     for its zone.
//
// A CNAME chain gives one record per link and one for the target's
// addresses. Only class IN is kept; OPT, TSIG, TKEY and SIG(0) RRs are
// skipped, RRSIG too unless WithRRSIG is given.
//
// Queries give nothing, nor do responses with the TC bit, another opcode
// than QUERY, or a non-zero RCODE: COF has no representation of negative
// answers (NXDOMAIN, NODATA), so they are counted by RCODE in Stats and
// nothing else. Malformed DNS messages are counted by reason, logged at
// most once per 10 s with the counts, and skipped.
//
// # Privacy
//
// Message holds only the type, the times, query_zone and the response:
// the query and response addresses and ports, identity, version and extra
// are never decoded, so they cannot reach a record.
package dnstap
