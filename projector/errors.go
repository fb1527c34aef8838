package projector

import "errors"

// Errors returned by this package. Each is wrapped with the detail of the case.
var (
	// ErrInUse is returned by Open (and the methods that open the file again, see DB) when
	// another process keeps the views file locked longer than Options.Timeout, and by Run and
	// Rebuild when another Run or Rebuild feeds the same views.
	ErrInUse = errors.New("views in use")
	// ErrSchema is returned by Open when the file was written by an incompatible version of
	// the projector; khist rebuild re-creates it from the log.
	ErrSchema = errors.New("views schema mismatch")
	// ErrOtherSchema is returned by Open, with ErrSchema, when the file holds views of
	// another layout (written by another version of khist): views are disposable, and
	// Rebuild makes them again from the log.
	ErrOtherSchema = errors.New("another version")
	// ErrNotFound is returned by read methods when the object, workload or version asked for
	// is not in the views.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt is returned when a record of the views cannot be decoded.
	ErrCorrupt = errors.New("corrupt views")
	// ErrAhead is returned by the folds when the views hold events the log does not have:
	// the stream was deleted and created again, or the views belong to another log.
	ErrAhead = errors.New("views ahead of the log")
	// ErrInvalidOption is returned when an option has a value that cannot work.
	ErrInvalidOption = errors.New("invalid option")
	// ErrDamaged is returned when the views file is damaged (bbolt finds a page it cannot
	// use): the views are a cache of the log, and khist rebuild makes them again.
	ErrDamaged = errors.New("views damaged")
	// ErrWouldLose is returned by Rebuild when the new views would hold fewer events than the
	// old ones (the log lost some, by damage, deletion or retention): the old views, then the
	// last copy of that history, are kept. WithForce rebuilds anyway.
	ErrWouldLose = errors.New("rebuild would lose history")
)
