package migrations

import "errors"

// ErrNothingToRollBack is returned by Down when no migration is applied.
var ErrNothingToRollBack = errors.New("no applied migration to roll back")
