package cof

import (
	"fmt"
)

// Default limits. A COF line is rarely above 1 KiB; the line limit leaves
// room for a full 64 KiB DNS answer written as JSON. The batch limits keep
// one message's worst case to tens of MiB however well it compresses.
const (
	DefaultMaxLineBytes  = 256 << 10
	DefaultMaxRecords    = 10000
	DefaultMaxBatchBytes = 16 << 20
)

// Option configures a Parser, Reader or Codec. Options validate their
// argument and fail with an error wrapping ErrInvalidOption.
type Option func(*options) error

type options struct {
	maxLineBytes  int
	maxRecords    int
	maxBatchBytes int
}

func buildOptions(opts []Option) (options, error) {
	o := options{
		maxLineBytes:  DefaultMaxLineBytes,
		maxRecords:    DefaultMaxRecords,
		maxBatchBytes: DefaultMaxBatchBytes,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithMaxLineBytes sets the longest line accepted; longer lines are
// rejected with ErrLineTooLong. Default DefaultMaxLineBytes.
func WithMaxLineBytes(n int) Option {
	return func(o *options) error {
		if n < 64 || n > 64<<20 {
			return fmt.Errorf("%w: max line bytes %d not in 64..64MiB", ErrInvalidOption, n)
		}
		o.maxLineBytes = n
		return nil
	}
}

// WithMaxRecords sets the most lines one batch may hold; a larger batch is
// rejected whole with ErrTooManyRecords. Default DefaultMaxRecords.
func WithMaxRecords(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max records %d must be positive", ErrInvalidOption, n)
		}
		o.maxRecords = n
		return nil
	}
}

// WithMaxBatchBytes sets the largest decompressed batch; decompression
// stops, with ErrBatchTooLarge, as soon as output passes it.
// Default DefaultMaxBatchBytes.
func WithMaxBatchBytes(n int) Option {
	return func(o *options) error {
		if n < 64 || n > 1<<30 {
			return fmt.Errorf("%w: max batch bytes %d not in 64..1GiB", ErrInvalidOption, n)
		}
		o.maxBatchBytes = n
		return nil
	}
}
