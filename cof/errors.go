package cof

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned for a record wraps exactly one of the
// record-level sentinels, so callers (the dead-letter queue, metrics) can
// classify rejections with errors.Is and never by matching text.
var (
	// ErrSyntax reports a line that is not exactly one well-formed JSON object.
	ErrSyntax = errors.New("cof: not a JSON object")
	// ErrMissingField reports that a mandatory field (COF §3.3) is absent.
	ErrMissingField = errors.New("cof: missing mandatory field")
	// ErrType reports a field whose JSON type is not the one COF defines.
	ErrType = errors.New("cof: wrong JSON type")
	// ErrDuplicateKey reports a key that occurs twice in one object.
	ErrDuplicateKey = errors.New("cof: duplicate key")
	// ErrBadTime reports a time that is negative, out of range or out of order.
	ErrBadTime = errors.New("cof: bad time")
	// ErrBadCount reports a count that is negative, fractional or out of range.
	ErrBadCount = errors.New("cof: bad count")
	// ErrBadName reports an rrname or bailiwick that is not a DNS name.
	ErrBadName = errors.New("cof: bad DNS name")
	// ErrBadRRType reports an rrtype that is neither a known mnemonic nor a
	// valid type number.
	ErrBadRRType = errors.New("cof: bad rrtype")
	// ErrBadRData reports rdata that is empty or does not fit its rrtype.
	ErrBadRData = errors.New("cof: bad rdata")
	// ErrBadField reports an optional or additional field with a bad value.
	ErrBadField = errors.New("cof: bad field value")
	// ErrLineTooLong reports a line longer than the configured limit.
	ErrLineTooLong = errors.New("cof: line too long")

	// ErrBatchTooLarge reports a batch whose decompressed size exceeds the
	// limit; it is returned before the batch is held in memory whole.
	ErrBatchTooLarge = errors.New("cof: batch too large")
	// ErrTooManyRecords reports a batch with more lines than the limit.
	ErrTooManyRecords = errors.New("cof: too many records in batch")
	// ErrUnknownEncoding reports a Content-Encoding this package cannot decode.
	ErrUnknownEncoding = errors.New("cof: unknown content encoding")
	// ErrCorrupt reports compressed data that cannot be decompressed.
	ErrCorrupt = errors.New("cof: corrupt compressed data")
	// ErrInvalidOption reports an option given an unusable value.
	ErrInvalidOption = errors.New("cof: invalid option")
)

// Error describes why one COF line was rejected. It names the line (when
// known), the field and the reason, and wraps one of the sentinel errors.
// Its text is what operators read in the dead-letter queue.
type Error struct {
	Line   int    // 1-based line number, 0 when not known
	Field  string // the JSON key at fault, "" for whole-line errors
	Reason string // what is wrong, in words
	Err    error  // the sentinel this error is classified as
}

// Error returns "line N: field: reason" with the absent parts left out.
func (e *Error) Error() string {
	var b []byte
	if e.Line > 0 {
		b = append(b, "line "...)
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ": "...)
	}
	b = append(b, e.Detail()...)
	return string(b)
}

// Detail returns the error without its line number: "field: reason".
func (e *Error) Detail() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

func fieldErr(sentinel error, field, reason string) *Error {
	return &Error{Field: field, Reason: reason, Err: sentinel}
}
