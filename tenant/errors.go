package tenant

import "errors"

// Errors returned by every Store. Implementations wrap them with context;
// callers test with errors.Is.
var (
	// ErrNotFound: the row does not exist, or belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key (tenant domain, record id, username,
	// terminal, token hash) is already taken.
	ErrConflict = errors.New("already exists")
	// ErrInvalid: the input fails validation; the wrapped message says why.
	ErrInvalid = errors.New("invalid")
	// ErrDecrypt: a sealed value cannot be opened (wrong key or tampered).
	ErrDecrypt = errors.New("cannot decrypt: wrong secret key or tampered data")
)
