package logformat

import (
	"errors"

	"github.com/cofswitch/cofswitch/cof"
)

// cofInput passes COF NDJSON through cof.Parser: records come out as the
// switch would read them, normalised, with sensor_id removed (the sensor
// command sets its own). Additional fields are kept as the file has them.
type cofInput struct {
	base
	p cof.Parser
	r cof.Record
}

func newCOF(o options) (Parser, error) {
	return &cofInput{base: base{name: "cof", display: "cof"}}, nil
}

func (p *cofInput) Parse(line []byte, emit func(*cof.Record)) error {
	if err := p.start(line); err != nil {
		return err
	}
	if len(trimSpace(line)) == 0 {
		p.skip(SkipNotAnswer)
		return nil
	}
	if err := p.p.Parse(line, &p.r); err != nil {
		var ce *cof.Error
		errors.As(err, &ce)
		return p.fail(&Error{Format: p.display, Field: ce.Field, Reason: ce.Reason, Err: cofSentinel(ce.Err), cause: ce.Err})
	}
	p.r.SensorID = ""
	p.stats.Records++
	emit(&p.r)
	return nil
}

// cofSentinel classifies a cof error with this package's sentinels.
func cofSentinel(err error) error {
	switch err {
	case cof.ErrSyntax, cof.ErrDuplicateKey:
		return ErrSyntax
	case cof.ErrMissingField:
		return ErrMissingField
	case cof.ErrBadTime:
		return ErrBadTime
	case cof.ErrBadName:
		return ErrBadName
	case cof.ErrBadRRType:
		return ErrBadRRType
	case cof.ErrBadRData:
		return ErrBadRData
	case cof.ErrBadCount:
		return ErrBadCount
	case cof.ErrLineTooLong:
		return ErrLineTooLong
	}
	return ErrBadField
}
