package tenant

import "time"

// PBX is one Asterisk PBX connection of a tenant. Secret fields are
// write-only: Store reads return them empty.
type PBX struct {
	ID        string    `json:"id"`
	Tenant    ID        `json:"tenant"`
	Name      string    `json:"name"`
	Enabled   bool      `json:"enabled"`
	ARIURL    string    `json:"ari_url"` // e.g. http://pbx:8088/ari
	ARIUser   string    `json:"ari_user"`
	ARIApp    string    `json:"ari_app"`  // Stasis application name, default "hookflash"
	AMIAddr   string    `json:"ami_addr"` // host:port
	AMIUser   string    `json:"ami_user"`
	TLSCA     string    `json:"tls_ca,omitempty"` // PEM; empty = system roots
	TLSSkip   bool      `json:"tls_insecure_skip_verify,omitempty"`
	Version   int64     `json:"version"` // bumped on every change; connectors restart when it moves
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Secrets, only set on writes (Create/Update) and by PBXSecrets.
	Secrets PBXSecrets `json:"-"`
}

// PBXSecrets are the credentials a connector needs. Empty fields in an
// UpdatePBX keep the stored value.
type PBXSecrets struct {
	ARIPassword string
	AMISecret   string
}
