package policy

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error in a policy definition.
var ErrInvalid = errors.New("policy: invalid")

// Error is a fault in a policy definition, with the path of the value at
// fault (policies.<name>.include.zones[2]) so that the configuration
// reader can give its line.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

type errList struct {
	prefix string
	errs   []error
}

func (l *errList) add(path, format string, a ...any) {
	l.errs = append(l.errs, &Error{Path: l.prefix + path, Msg: fmt.Sprintf(format, a...)})
}

func (l *errList) err() error { return errors.Join(l.errs...) }
