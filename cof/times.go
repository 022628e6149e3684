package cof

import "strconv"

// times applies the rules that tie the time fields together: a complete
// pair of seen times or of zone times (§3.3, §3.7), first not after last,
// and milliseconds that agree with the seconds.
func (p *Parser) times(r *Record) *Error {
	seen := p.seen & (kTimeFirst | kTimeLast)
	zone := p.seen & (kZoneTimeFirst | kZoneTimeLast)
	switch {
	case seen == kTimeFirst:
		return fieldErr(ErrMissingField, KeyTimeLast, "missing (time_first is present)")
	case seen == kTimeLast:
		return fieldErr(ErrMissingField, KeyTimeFirst, "missing (time_last is present)")
	case zone == kZoneTimeFirst:
		return fieldErr(ErrMissingField, KeyZoneTimeLast, "missing (zone_time_first is present)")
	case zone == kZoneTimeLast:
		return fieldErr(ErrMissingField, KeyZoneTimeFirst, "missing (zone_time_last is present)")
	case seen == 0 && zone == 0:
		return fieldErr(ErrMissingField, KeyTimeFirst, "missing (and no zone_time_first)")
	case seen == 0 && p.seen&(kTimeFirstMS|kTimeLastMS) != 0:
		return fieldErr(ErrMissingField, KeyTimeFirst, "missing (time_first_ms or time_last_ms is present)")
	}
	if zone != 0 {
		if p.ztf.v > p.ztl.v {
			return orderErr(KeyZoneTimeFirst, KeyZoneTimeLast, p.ztf.v, p.ztl.v)
		}
		r.ZoneTimeFirst, r.ZoneTimeLast = p.ztf.v, p.ztl.v
		r.Has |= HasZoneTimes
	}
	if seen == 0 {
		// Zone times stand in for the seen times (§3.7); the JSON schema
		// and strict clients require time_first and time_last.
		r.TimeFirst, r.TimeLast = r.ZoneTimeFirst, r.ZoneTimeLast
		return nil
	}
	if p.tf.v > p.tl.v {
		return orderErr(KeyTimeFirst, KeyTimeLast, p.tf.v, p.tl.v)
	}
	r.TimeFirst, r.TimeLast = p.tf.v, p.tl.v
	var err *Error
	if r.TimeFirstMS, err = millis(p.tf, p.tfms, p.seen&kTimeFirstMS != 0, KeyTimeFirstMS, KeyTimeFirst); err != nil {
		return err
	}
	if r.TimeLastMS, err = millis(p.tl, p.tlms, p.seen&kTimeLastMS != 0, KeyTimeLastMS, KeyTimeLast); err != nil {
		return err
	}
	if p.seen&kTimeFirstMS != 0 || p.tf.hasFrac {
		r.Has |= HasTimeFirstMS
	}
	if p.seen&kTimeLastMS != 0 || p.tl.hasFrac {
		r.Has |= HasTimeLastMS
	}
	if r.Has&(HasTimeFirstMS|HasTimeLastMS) == HasTimeFirstMS|HasTimeLastMS && r.TimeFirstMS > r.TimeLastMS {
		return orderErr(KeyTimeFirstMS, KeyTimeLastMS, r.TimeFirstMS, r.TimeLastMS)
	}
	return nil
}

// millis returns the millisecond time for a seconds field: the explicit
// _ms field if given (which must fall in the same second), else the
// fraction the seconds were written with, else 0.
func millis(sec, ms timeVal, given bool, msKey, secKey string) (int64, *Error) {
	if given {
		if ms.v/1000 != sec.v {
			return 0, fieldErr(ErrBadTime, msKey, strconv.FormatInt(ms.v, 10)+" disagrees with "+
				secKey+" "+strconv.FormatInt(sec.v, 10))
		}
		return ms.v, nil
	}
	if sec.hasFrac {
		return sec.v*1000 + sec.ms, nil
	}
	return 0, nil
}

func orderErr(first, last string, f, l int64) *Error {
	return fieldErr(ErrBadTime, first, strconv.FormatInt(f, 10)+" is after "+last+" "+strconv.FormatInt(l, 10))
}
