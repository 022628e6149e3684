// Package cof reads and writes passive DNS records in the Common Output
// Format (draft-dulaunoy-dnsop-passive-dns-cof-13). It knows nothing of the
// bus and imports no other cofswitch package: the switch, the sinks and the
// command-line tools all share it.
//
// # Reading
//
// Parse (or a reusable Parser) accepts everything the draft allows:
// fractional times, rdata as a string or an array, rrtype as a mnemonic in
// any letter case, as TYPEnnn or as a number, zone_time_first and
// zone_time_last instead of time_first and time_last, and unknown fields,
// which are kept byte-exact. A null given for an optional field (count,
// bailiwick, sensor_id, origin) reads as absent.
//
// It rejects, with an *Error naming the field and wrapping a sentinel
// (ErrSyntax, ErrMissingField, ErrType, ErrDuplicateKey, ErrBadTime,
// ErrBadCount, ErrBadName, ErrBadRRType, ErrBadRData, ErrBadField,
// ErrLineTooLong):
//   - a line that is not exactly one JSON object, or not strict RFC 8259
//     JSON (invalid UTF-8, control characters in strings, leading zeros,
//     NaN, trailing data, nesting deeper than 64);
//   - a missing mandatory field: rrname, rrtype, rdata, and a complete pair
//     of time_first/time_last or zone_time_first/zone_time_last;
//   - a wrong JSON type (count "12" is a string, not a number);
//   - a key that appears twice, also when spelled with escapes;
//   - a negative time, a time after 9999-12-31 (MaxTime), first after last
//     (for seen times, zone times and milliseconds), or a *_ms field that
//     falls outside its seconds field's second;
//   - a negative or fractional count, or one above 2^53-1 (MaxCount);
//   - an rrname or bailiwick that is not a DNS name: empty, an empty
//     label, a label over 63 octets, a name over 253 octets, a bad \DDD
//     escape, an IDN label that UTS #46 refuses;
//   - an rrtype that is no known mnemonic, or a number outside 1..65535;
//   - rdata that is empty, or for A and AAAA not an IPv4 or IPv6 address;
//   - an empty sensor_id or origin, a sensor_id over 256 bytes
//     (MaxSensorIDBytes) or with control characters;
//   - a line over the line limit.
//
// # Normalising
//
// A parsed Record is canonical: times in whole seconds, with the
// milliseconds in TimeFirstMS/TimeLastMS when the input gave a fraction
// or *_ms fields; rrname and bailiwick in lower case, without the trailing
// dot (the root stays "."), U-labels converted to A-labels, spaces and
// control bytes as \DDD; AAAA data in RFC 5952 form; zone times copied to
// time_first/time_last when those were absent, since the pdns-qof schema
// and strict clients require them. Other rdata is kept as sent.
//
// # Writing
//
// Record.AppendJSON writes the canonical form that the strictest peers
// accept (dnsdbq, MISP's cof2misp, the pdns-qof JSON schema): integer
// times and count, rrtype as a string (TYPE65280 when there is no
// mnemonic), rdata as an array, fields in a fixed order, additional fields
// last, as received. Parsing that output gives the same Record, and
// writing it again gives the same bytes.
//
// # Batches and files
//
// On the bus a batch is NDJSON lines, plain, zstd or s2 (stream format),
// named by the Content-Encoding header (see Encoding). A Codec enforces
// the limits below and stops decompressing as soon as output passes the
// batch limit, so a compression bomb costs at most the limit in memory.
// A BatchReader iterates over one batch's records. A Reader streams files
// of any size, plain, gzip or zstd, recognised by their magic bytes.
//
// Limits (each settable with an Option):
//   - DefaultMaxLineBytes, 256 KiB: the longest line;
//   - DefaultMaxRecords, 10,000: the most lines in one batch;
//   - DefaultMaxBatchBytes, 16 MiB: the largest decompressed batch.
package cof
