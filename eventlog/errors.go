package eventlog

import "errors"

// Errors returned by this package. Each is wrapped with the detail of the case.
var (
	// ErrInvalidEnvelope is returned when an envelope lacks a field the log needs, or a message
	// read from the stream is not an envelope.
	ErrInvalidEnvelope = errors.New("invalid envelope")
	// ErrInvalidOption is returned when an option has a value that cannot work.
	ErrInvalidOption = errors.New("invalid option")
	// ErrMaxPayloadTooSmall is returned by Open when an external NATS server cannot carry an
	// object of etcd's maximum size.
	ErrMaxPayloadTooSmall = errors.New("NATS max_payload too small")
	// ErrPublish is returned when an envelope could not be stored in the stream after retries.
	ErrPublish = errors.New("publish failed")
	// ErrDiskFull is returned when the store has no room for what is written to it (an event,
	// a consumer's state, the stream): the disk is full, or the server's storage limit is
	// reached. Nothing stored is lost.
	ErrDiskFull = errors.New("disk full")
	// ErrNotPermitted is returned when the NATS server refused a request because the user may
	// not make it (its permissions deny the subject).
	ErrNotPermitted = errors.New("not permitted by NATS")
	// ErrBadToken is returned by DecodeToken when a subject token is not an encoding.
	ErrBadToken = errors.New("bad subject token")
)
