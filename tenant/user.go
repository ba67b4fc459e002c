package tenant

import "time"

// Roles known to the default policies. A tenant may define more in casbin.
const (
	RoleAdmin      = "admin"
	RoleSupervisor = "supervisor"
	RoleAgent      = "agent"
	RoleIntegrator = "integrator"
)

// User is a person of a tenant. Terminals are the PBX devices the user owns
// ("PJSIP/1001"); channels on them are the user's calls.
type User struct {
	ID            string    `json:"id"`
	Tenant        ID        `json:"tenant"`
	Username      string    `json:"username"`
	Name          string    `json:"name"`
	Email         string    `json:"email,omitempty"`
	Role          string    `json:"role"`
	MainExtension string    `json:"main_extension,omitempty"`
	Terminals     []string  `json:"terminals"`
	PasswordHash  string    `json:"-"` // argon2id PHC string; never serialised
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Token is an integrator API token. Only the SHA-256 of the secret is kept.
type Token struct {
	ID         string     `json:"id"`
	Tenant     ID         `json:"tenant"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"` // first characters of the secret, for recognition in lists
	Hash       [32]byte   `json:"-"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// AuditEntry records one administrative change.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Tenant ID        `json:"tenant"` // empty for platform-level changes
	Actor  string    `json:"actor"`  // principal description, never a secret
	Action string    `json:"action"` // e.g. "pbx.create"
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}
