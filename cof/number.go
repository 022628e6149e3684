package cof

// decimal is a validated JSON number viewed as a digit string with a
// decimal point position. Times and counts are read from it exactly, never
// through float64, so 1625639658.6788542 yields 1625639658 s and 678 ms.
type decimal struct {
	neg     bool
	intPart []byte // digits before the '.' as written
	frac    []byte // digits after the '.' as written
	intLen  int    // digits before the decimal point once the exponent is applied
}

// maxExp bounds exponents: no value we accept needs more than a few dozen
// digits, and clamping keeps intLen arithmetic far from overflow.
const maxExp = 1 << 16

// parseDecimal reads a number already validated by scanner.number.
func parseDecimal(num []byte) decimal {
	var d decimal
	i := 0
	if num[0] == '-' {
		d.neg = true
		i++
	}
	start := i
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		i++
	}
	d.intPart = num[start:i]
	if i < len(num) && num[i] == '.' {
		i++
		fs := i
		for i < len(num) && num[i] >= '0' && num[i] <= '9' {
			i++
		}
		d.frac = num[fs:i]
	}
	exp := 0
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		eneg := false
		if num[i] == '+' || num[i] == '-' {
			eneg = num[i] == '-'
			i++
		}
		for ; i < len(num); i++ {
			if exp < maxExp {
				exp = exp*10 + int(num[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	d.intLen = len(d.intPart) + exp
	return d
}

// digit returns the i-th digit of the digit string (integer digits then
// fraction digits), or 0 outside it.
func (d *decimal) digit(i int) byte {
	switch {
	case i < 0:
		return 0
	case i < len(d.intPart):
		return d.intPart[i] - '0'
	case i-len(d.intPart) < len(d.frac):
		return d.frac[i-len(d.intPart)] - '0'
	}
	return 0
}

func (d *decimal) numDigits() int { return len(d.intPart) + len(d.frac) }

// isZero reports whether the value is 0 (so "-0" is not negative).
func (d *decimal) isZero() bool {
	for i := 0; i < d.numDigits(); i++ {
		if d.digit(i) != 0 {
			return false
		}
	}
	return true
}

// negative reports a value below zero.
func (d *decimal) negative() bool { return d.neg && !d.isZero() }

// integer returns the integer part (truncated toward zero) if it has at most
// maxDigits significant digits.
func (d *decimal) integer(maxDigits int) (uint64, bool) {
	var v uint64
	sig := 0
	for i := 0; i < d.intLen; i++ {
		c := d.digit(i)
		if sig == 0 && c == 0 {
			continue
		}
		sig++
		if sig > maxDigits {
			return 0, false
		}
		v = v*10 + uint64(c)
	}
	return v, true
}

// hasFraction reports whether digits were written after the (exponent-
// shifted) decimal point, even zeros: "1.0" has a fraction, "1e0" has not.
func (d *decimal) hasFraction() bool { return d.numDigits() > d.intLen }

// fractionNonZero reports whether any digit after the point is not 0.
func (d *decimal) fractionNonZero() bool {
	for i := max(d.intLen, 0); i < d.numDigits(); i++ {
		if d.digit(i) != 0 {
			return true
		}
	}
	return false
}

// millis returns the first three fraction digits as milliseconds.
func (d *decimal) millis() int64 {
	return int64(d.digit(d.intLen))*100 + int64(d.digit(d.intLen+1))*10 + int64(d.digit(d.intLen+2))
}
