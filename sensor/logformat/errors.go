package logformat

import (
	"errors"
	"strconv"

	"github.com/cofswitch/cofswitch/cof"
)

// Sentinel errors. Every error a Parser returns is an *Error wrapping one of
// them, so that a caller can count rejections by kind with errors.Is.
var (
	// ErrSyntax reports a line that does not have the shape of its format:
	// not one JSON object, too few fields, a bad escape.
	ErrSyntax = errors.New("logformat: syntax error")
	// ErrMissingField reports that a field the mapping needs is absent.
	ErrMissingField = errors.New("logformat: missing field")
	// ErrBadTime reports a timestamp that cannot be read or is out of range.
	ErrBadTime = errors.New("logformat: bad time")
	// ErrBadName reports an owner name or a name in rdata that is not a DNS name.
	ErrBadName = errors.New("logformat: bad DNS name")
	// ErrBadRRType reports a type that is neither a mnemonic nor a number.
	ErrBadRRType = errors.New("logformat: bad rrtype")
	// ErrBadRData reports rdata that does not fit its type.
	ErrBadRData = errors.New("logformat: bad rdata")
	// ErrBadCount reports a count that is not a positive integer.
	ErrBadCount = errors.New("logformat: bad count")
	// ErrBadField reports any other field with a value of the wrong form.
	ErrBadField = errors.New("logformat: bad field value")
	// ErrLineTooLong reports a line over MaxLineBytes.
	ErrLineTooLong = errors.New("logformat: line too long")

	// ErrUnknownFormat reports a format name ByName does not know.
	ErrUnknownFormat = errors.New("logformat: unknown format")
	// ErrInvalidOption reports an option with an unusable value, or one
	// that the chosen format does not take.
	ErrInvalidOption = errors.New("logformat: invalid option")
)

// MaxLineBytes is the longest line a parser reads; longer lines are
// rejected with ErrLineTooLong. It is cof.DefaultMaxLineBytes, so that a
// line a sensor accepts is never too long for the switch.
const MaxLineBytes = cof.DefaultMaxLineBytes

// Error says why a line, or one answer in it, was rejected. It names the
// format, the field (a path such as "dns.answers[2].rdata"; "" for the
// whole line) and the reason, and wraps a sentinel. Line is 0 unless the
// caller that knows the line number (ParseAll) sets it.
type Error struct {
	Format string // the format's display name, "suricata eve"
	Line   int    // 1-based line number, 0 when not known
	Field  string // the field at fault, "" for whole-line errors
	Reason string // what is wrong, in words
	Err    error  // the sentinel this error is classified as
	cause  error  // the cof error behind it, for the cof format
}

// Error returns `format: line N: field "f": reason` without the parts
// that are not known.
func (e *Error) Error() string {
	b := append([]byte(nil), e.Format...)
	b = append(b, ": "...)
	if e.Line > 0 {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ": "...)
	}
	if e.Field != "" {
		b = append(b, "field "...)
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": "...)
	}
	b = append(b, e.Reason...)
	return string(b)
}

// Unwrap returns the sentinel and, for COF input, the cof error, so that
// errors.Is matches both ErrBadRData and cof.ErrBadRData.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Err, e.cause}
	}
	return []error{e.Err}
}

// quote renders an offending value for an error message, shortened so
// that a hostile line cannot make log lines huge.
func quote(v []byte) string {
	const max = 64
	if len(v) > max {
		return strconv.Quote(string(v[:max])) + "..."
	}
	return strconv.Quote(string(v))
}

// index returns prefix[i], for field paths in error messages.
func index(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}
