package dnstap

import "errors"

// Sentinel errors. Callers classify with errors.Is, never by the text.
var (
	// ErrMalformed reports input that is not what dnstap, Frame Streams or
	// DNS define. Every *Error wraps it.
	ErrMalformed = errors.New("dnstap: malformed input")
	// ErrInvalidOption reports an option given an unusable value.
	ErrInvalidOption = errors.New("dnstap: invalid option")
	// ErrSocketInUse reports a unix socket path on which a process listens.
	ErrSocketInUse = errors.New("dnstap: socket in use")
	// ErrNotSocket reports a socket path that exists and is no socket, so
	// it is left alone.
	ErrNotSocket = errors.New("dnstap: path exists and is not a socket")
	// ErrNotLoopback reports a TCP address that is not a loopback address,
	// refused unless AllowNonLoopback is given.
	ErrNotLoopback = errors.New("dnstap: TCP address is not loopback")
)

// Error says why a frame or a DNS message was not converted. It wraps
// ErrMalformed.
type Error struct {
	Reason Reason // what was wrong, as counted in Stats
	Detail string // more words, "" when the reason says it all
}

// Error returns "dnstap: malformed input: reason: detail".
func (e *Error) Error() string {
	s := ErrMalformed.Error() + ": " + e.Reason.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns ErrMalformed.
func (e *Error) Unwrap() error { return ErrMalformed }

func malformed(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }
