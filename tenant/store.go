package tenant

import (
	"context"
	"time"
)

// Store is the persistence seam. Implementations: MemoryStore and
// pgstore.Store; both pass storetest.Run. All methods are safe for
// concurrent use.
//
// Scoping: methods taking an ID only ever see that tenant's rows; a row of
// another tenant is reported as ErrNotFound, and lists of another (or a
// missing) tenant are empty. Creating a row in a tenant that does not exist
// is ErrNotFound.
//
// Errors: ErrInvalid (wrapped with the reason) for input failing the
// Validate methods, ErrConflict for a taken unique key, ErrNotFound for a
// missing row; anything else is a storage failure.
//
// Writes report what the store set back in the value passed (ID when
// assigned, Tenant, Version, timestamps). Times are kept at microsecond
// precision in UTC (see Normalize). Values are never shared with the store:
// changing one after a call changes nothing stored.
type Store interface {
	// Tenants (platform admin). ListTenants orders by ID.
	CreateTenant(ctx context.Context, t *Tenant) error // ErrConflict if the domain exists
	GetTenant(ctx context.Context, id ID) (*Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	UpdateTenant(ctx context.Context, t *Tenant) error // name, limits, privacy, disabled
	DeleteTenant(ctx context.Context, id ID) error     // removes all of the tenant's rows

	// PBXes. CreatePBX assigns ID when empty and sets Version 1; UpdatePBX
	// replaces every field, keeps each secret left empty, and bumps
	// Version. Reads never return secrets. ListPBXes orders by name, ID.
	// DeletePBX keeps the PBX's call history.
	CreatePBX(ctx context.Context, id ID, p *PBX) error
	GetPBX(ctx context.Context, id ID, pbxID string) (*PBX, error)
	ListPBXes(ctx context.Context, id ID) ([]PBX, error)
	UpdatePBX(ctx context.Context, id ID, p *PBX) error
	DeletePBX(ctx context.Context, id ID, pbxID string) error
	// PBXSecrets returns the decrypted credentials of one PBX (connectors
	// only). ErrDecrypt when a stored secret does not open.
	PBXSecrets(ctx context.Context, id ID, pbxID string) (PBXSecrets, error)
	// AllPBXes lists every PBX (enabled or not) of every tenant that is not
	// disabled, ordered by tenant, name, ID, for the supervisor.
	AllPBXes(ctx context.Context) ([]PBX, error)

	// Users. CreateUser assigns ID when empty. Usernames are unique per tenant
	// (case-insensitive); a terminal belongs to at most one user per tenant
	// (ErrConflict otherwise). Terminals keep their order. ListUsers orders
	// by lower-cased username. Reads return PasswordHash (for login).
	CreateUser(ctx context.Context, id ID, u *User) error
	GetUser(ctx context.Context, id ID, userID string) (*User, error)
	GetUserByUsername(ctx context.Context, id ID, username string) (*User, error) // any case
	ListUsers(ctx context.Context, id ID) ([]User, error)
	UpdateUser(ctx context.Context, id ID, u *User) error // PasswordHash kept when empty; terminals replaced
	DeleteUser(ctx context.Context, id ID, userID string) error

	// Tokens. CreateToken assigns ID when empty; the hash is unique across
	// tenants. GetTokenByHash looks across tenants (the hash is the
	// credential) and returns revoked and expired tokens too; the caller
	// decides. ListTokens orders by CreatedAt, ID. RevokeToken keeps the
	// first revocation time.
	CreateToken(ctx context.Context, id ID, t *Token) error
	GetTokenByHash(ctx context.Context, hash [32]byte) (*Token, error)
	ListTokens(ctx context.Context, id ID) ([]Token, error)
	RevokeToken(ctx context.Context, id ID, tokenID string) error
	// TouchTokens records last-used times in one batch (called periodically,
	// not per request), keyed by token ID. LastUsedAt only moves forward;
	// entries whose token is not in the named tenant are ignored.
	TouchTokens(ctx context.Context, used map[string]TokenUse) error

	// Audit log. AppendAudit assigns ID (increasing) and At when zero; an
	// entry with an empty Tenant is platform-level. ListAudit returns the
	// newest entries first, limit defaulting to 100 and capped at 1000; the
	// empty ID lists platform-level entries.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	ListAudit(ctx context.Context, id ID, limit int) ([]AuditEntry, error)

	// Call history. RecordCall is idempotent on (tenant, pbx, linked id):
	// the first write wins and later ones return nil. ListCalls returns one
	// page in the order CallQuery documents and the cursor of the next page
	// ("" on the last); a malformed cursor is ErrInvalid.
	RecordCall(ctx context.Context, c *Call) error
	ListCalls(ctx context.Context, id ID, q CallQuery) (calls []Call, next string, err error)

	// Ping reports whether the backing storage answers (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close()
}

// TokenUse is one entry of a TouchTokens batch.
type TokenUse struct {
	Tenant ID
	At     time.Time
}
