package authz

import "errors"

// Errors of package authz. Functions wrap them with context; callers test
// with errors.Is. The API layer maps them to HTTP statuses and close codes.
var (
	// ErrFullEventsForbidden: full_events=true was requested by a principal
	// whose policy does not grant full_events/use.
	ErrFullEventsForbidden = errors.New("authz: full_events is not granted to this principal")
	// ErrInvalidPolicy: a policy line failed validation (SetPolicies).
	ErrInvalidPolicy = errors.New("authz: invalid policy")
	// ErrInvalidTenant: a tenant (casbin domain) is empty or malformed.
	ErrInvalidTenant = errors.New("authz: invalid tenant")

	// ErrNoCredentials: neither an Authorization header nor a token query
	// parameter was given.
	ErrNoCredentials = errors.New("authz: no credentials")
	// ErrMalformedCredentials: the credentials could not be parsed.
	ErrMalformedCredentials = errors.New("authz: malformed credentials")
	// ErrMalformedToken: a token does not have the Hookflash format or its
	// checksum does not match (rejected without a store lookup).
	ErrMalformedToken = errors.New("authz: malformed token")
	// ErrInvalidLogin: a login name is empty or malformed, or names another
	// domain than the one given.
	ErrInvalidLogin = errors.New("authz: invalid login name")

	// ErrInvalidPasswordHash: a stored password hash is not a valid argon2id
	// PHC string within sane bounds.
	ErrInvalidPasswordHash = errors.New("authz: invalid password hash")
	// ErrPasswordTooLong: a password exceeds MaxPasswordLen bytes.
	ErrPasswordTooLong = errors.New("authz: password too long")

	// ErrSessionNotFound: the session token is unknown, expired or deleted.
	ErrSessionNotFound = errors.New("authz: session not found or expired")

	// ErrBusClosed: Publish or Subscribe on a closed Bus.
	ErrBusClosed = errors.New("authz: bus closed")
)
