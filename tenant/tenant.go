package tenant

import (
	"fmt"
	"strings"
	"time"
)

// ID identifies a tenant. Its value is the tenant's domain in lower case
// ("acme.example"), which is also the casbin domain and the Redis key tag.
// Build one with ParseID; never paste strings together to make one.
type ID string

// ParseID validates and normalises a tenant domain.
func ParseID(domain string) (ID, error) {
	d := strings.ToLower(strings.TrimSpace(domain))
	if d == "" || len(d) > 253 {
		return "", fmt.Errorf("%w: domain must be 1 to 253 characters", ErrInvalid)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%w: domain %q has an empty or overlong label", ErrInvalid, domain)
		}
		for i, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(label)-1
			if !ok {
				return "", fmt.Errorf("%w: domain %q may hold only letters, digits, dots and inner hyphens", ErrInvalid, domain)
			}
		}
	}
	return ID(d), nil
}

// String returns the domain.
func (id ID) String() string { return string(id) }

// Tenant is one customer domain.
type Tenant struct {
	ID        ID        `json:"id"`
	Name      string    `json:"name"`
	Limits    Limits    `json:"limits"`
	Privacy   Privacy   `json:"privacy"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Limits caps what one tenant may hold. Zero means the platform default.
type Limits struct {
	MaxPBXes      int `json:"max_pbxes"`
	MaxUsers      int `json:"max_users"`
	MaxTokens     int `json:"max_tokens"`
	MaxConnsPerID int `json:"max_connections_per_principal"`
}

// Privacy is the tenant's number-masking rule (nethcti style): for principals
// without the privacy/bypass right, phone numbers keep only their last
// KeepLast digits and the rest is replaced by MaskChar.
type Privacy struct {
	Enabled  bool   `json:"enabled"`
	KeepLast int    `json:"keep_last"`
	MaskChar string `json:"mask_char"`
}
