package logformat

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Parser turns the lines of one input format into COF records.
//
// A Parser is not safe for concurrent use. Some parsers keep state across
// lines: the Zeek TSV parser reads the header lines, the gopassivedns
// parser follows CNAME chains across the lines of one response. Feed one
// Parser the lines of one file, in order.
type Parser interface {
	// Parse reads one line, without its line end, and calls emit once for
	// each record the line yields: zero or more times. A line that yields
	// nothing and returns nil was skipped on purpose (Stats says why). On
	// error, which is an *Error, the records of the line's other answers
	// may still have been emitted; a line that is not of the format's
	// shape emits nothing. The *cof.Record is reused after emit returns:
	// emit may keep a copy of the struct, whose strings and slices stay
	// valid, but not the pointer.
	Parse(line []byte, emit func(*cof.Record)) error
	// Stats returns the counts of what the parser has read so far.
	Stats() Stats
	// Format returns the name ByName knows the parser by.
	Format() string
}

// Stats counts what a Parser has read.
type Stats struct {
	Lines   int64 // lines given to Parse
	Records int64 // records emitted
	Errors  int64 // errors returned
	// Skipped counts what was left out on purpose, by reason. Reasons
	// that concern a whole line (SkipNotAnswer, SkipRcode, SkipClass,
	// SkipEmpty, SkipLocal) count lines; the others count answers.
	Skipped [NumSkips]int64
}

// Skip is a reason to leave data out without an error.
type Skip uint8

// Reasons to skip.
const (
	// SkipNotAnswer: a comment, a header, a blank line, a query, an event
	// of another type than a DNS answer.
	SkipNotAnswer Skip = iota
	// SkipRcode: a response whose rcode is not NOERROR, or the log line
	// of such a response (passivedns's NXDOMAIN lines), unless
	// WithErrorResponses is given.
	SkipRcode
	// SkipClass: a class other than IN.
	SkipClass
	// SkipEmpty: a response without answers (NODATA).
	SkipEmpty
	// SkipPartial: rdata the format logs only in part (the exchange of an
	// MX, the target of an SRV, the primary of an SOA, a truncated name),
	// from which no presentation form can be rebuilt.
	SkipPartial
	// SkipUnmapped: an answer whose rdata the format does not log (Zeek's
	// summaries of DNSSEC records, Suricata's answers without rdata), a
	// meta type, or a Zeek name answer whose type cannot be told.
	SkipUnmapped
	// SkipLocal: a response of a link-local name service (NetBIOS, mDNS,
	// LLMNR) that Zeek logs beside DNS.
	SkipLocal

	// NumSkips is the number of reasons.
	NumSkips = iota
)

var skipNames = [NumSkips]string{"not-answer", "rcode", "class", "empty", "partial", "unmapped", "local"}

// String returns the reason's name, as used in metrics labels.
func (s Skip) String() string {
	if int(s) < len(skipNames) {
		return skipNames[s]
	}
	return "unknown"
}

// Option configures a Parser; ByName refuses an option the format does
// not take.
type Option func(*options) error

type options struct {
	fields    string
	delimiter string
	errors    bool
	loc       *time.Location
	given     uint8 // optFields | optDelimiter | ...
}

const (
	optFields uint8 = 1 << iota
	optDelimiter
	optErrors
	optLocation
)

// WithFields gives the fields of a passivedns log as its -f flag does, by
// letter (default "SMcsCQTAtn"); see the package documentation.
func WithFields(spec string) Option {
	return func(o *options) error {
		if _, err := parseFieldSpec(spec); err != nil {
			return err
		}
		o.fields, o.given = spec, o.given|optFields
		return nil
	}
}

// WithDelimiter gives the field delimiter of a passivedns log, as its -d
// flag does (default "||").
func WithDelimiter(d string) Option {
	return func(o *options) error {
		if d == "" || strings.ContainsAny(d, "\r\n") {
			return optionErr("delimiter must be non-empty and on one line")
		}
		o.delimiter, o.given = d, o.given|optDelimiter
		return nil
	}
}

// WithErrorResponses keeps the answers of responses whose rcode is not
// NOERROR, such as the CNAME in an NXDOMAIN response (Suricata, Zeek).
// passivedns and gopassivedns log no answer for such responses, only
// the rcode, so for them the option changes nothing.
func WithErrorResponses() Option {
	return func(o *options) error {
		o.errors, o.given = true, o.given|optErrors
		return nil
	}
}

// WithLocation gives the time zone of passivedns's -f H timestamps, which
// it writes in the sensor's local time without an offset (default: the
// local time zone of this process).
func WithLocation(loc *time.Location) Option {
	return func(o *options) error {
		if loc == nil {
			return optionErr("nil location")
		}
		o.loc, o.given = loc, o.given|optLocation
		return nil
	}
}

func optionErr(reason string) error {
	return &Error{Format: "logformat", Reason: reason, Err: ErrInvalidOption}
}

// format is one entry of the registry.
type format struct {
	takes uint8 // the options it takes
	make  func(o options) (Parser, error)
}

var formats = map[string]format{
	"passivedns":      {optFields | optDelimiter | optErrors | optLocation, newPassiveDNS},
	"passivedns-json": {optErrors | optLocation, newPassiveDNSJSON},
	"gopassivedns":    {optErrors, newGoPassiveDNS},
	"eve":             {optErrors, newEVE},
	"zeek":            {optErrors, newZeek},
	"zeek-json":       {optErrors, newZeekJSON},
	"cof":             {0, newCOF},
}

// Names returns the names ByName knows, sorted.
func Names() []string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ByName returns a new Parser for the named format:
//
//	passivedns       gamelinux/passivedns log lines (options: WithFields,
//	                 WithDelimiter, WithLocation, WithErrorResponses)
//	passivedns-json  gamelinux/passivedns -j lines (WithLocation)
//	gopassivedns     Phillipmartin/gopassivedns JSON lines
//	eve              Suricata EVE JSON, dns events of versions 1, 2 and 3
//	zeek             Zeek dns.log, TSV with its header
//	zeek-json        Zeek dns.log written as JSON
//	cof              COF NDJSON, passed through
//
// An unknown name is ErrUnknownFormat; an option the format does not take
// is ErrInvalidOption.
func ByName(name string, opts ...Option) (Parser, error) {
	f, ok := formats[name]
	if !ok {
		return nil, &Error{Format: "logformat", Reason: "unknown format " + quote([]byte(name)) + "; known: " + strings.Join(Names(), ", "), Err: ErrUnknownFormat}
	}
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if extra := o.given &^ f.takes; extra != 0 {
		return nil, optionErr("format " + name + " takes no " + optionName(extra) + " option")
	}
	return f.make(o)
}

func optionName(bits uint8) string {
	switch {
	case bits&optFields != 0:
		return "fields"
	case bits&optDelimiter != 0:
		return "delimiter"
	case bits&optErrors != 0:
		return "error-responses"
	}
	return "location"
}

// base holds what every parser shares: its names, its counts and the
// batch of the line being read.
type base struct {
	name    string // the registry name
	display string // the name in error messages
	stats   Stats
	b       batch
}

func (p *base) Format() string { return p.name }
func (p *base) Stats() Stats   { return p.stats }

// start counts a line and refuses an oversize one.
func (p *base) start(line []byte) error {
	p.stats.Lines++
	p.b.reset()
	if len(line) > MaxLineBytes {
		return p.fail(p.errorf(ErrLineTooLong, "", "line of "+strconv.Itoa(len(line))+" bytes exceeds the limit of "+strconv.Itoa(MaxLineBytes)))
	}
	return nil
}

func (p *base) skip(s Skip) { p.stats.Skipped[s]++ }

// errorf builds an error of this format.
func (p *base) errorf(sentinel error, field, reason string) *Error {
	return &Error{Format: p.display, Field: field, Reason: reason, Err: sentinel}
}

// fail counts an error and drops the line's pending records.
func (p *base) fail(err *Error) error {
	p.stats.Errors++
	p.b.reset()
	return err
}

// answerErr classifies what a helper reported for one answer: the
// partial and unmapped kinds are counted and return nil, an *Error gets
// the format and the field.
func (p *base) answerErr(err error, field string) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errPartial):
		p.skip(SkipPartial)
		return nil
	case errors.Is(err, errUnmapped):
		p.skip(SkipUnmapped)
		return nil
	}
	e := err.(*Error)
	e.Format, e.Field = p.display, field
	return e
}

// flush emits the line's records and returns the line's error, if any.
func (p *base) flush(emit func(*cof.Record), lineErr *Error) error {
	p.stats.Records += int64(p.b.emit(emit))
	if lineErr != nil {
		p.stats.Errors++
		return lineErr
	}
	return nil
}
