package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/tenant"
)

const pbxCols = `tenant, id, name, enabled, ari_url, ari_user, ari_app, ami_addr, ami_user,
	tls_ca, tls_insecure_skip_verify, version, created_at, updated_at`

func scanPBX(row pgx.Row) (*tenant.PBX, error) {
	var p tenant.PBX
	var tid string
	err := row.Scan(&tid, &p.ID, &p.Name, &p.Enabled, &p.ARIURL, &p.ARIUser, &p.ARIApp, &p.AMIAddr, &p.AMIUser,
		&p.TLSCA, &p.TLSSkip, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return nil, err
	}
	p.Tenant = tenant.ID(tid)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

// secretAAD binds a sealed secret to its tenant, PBX and field, so a
// ciphertext moved to another row (or tenant) does not decrypt.
func secretAAD(id tenant.ID, pbxID, field string) []byte {
	return []byte("hookflash/pbx/" + string(id) + "/" + pbxID + "/" + field)
}

// seal returns the ciphertext of v, or nil (SQL NULL) when v is empty.
func (s *Store) seal(id tenant.ID, pbxID, field, v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	b, err := s.sealer.Seal([]byte(v), secretAAD(id, pbxID, field))
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", field, err)
	}
	return b, nil
}

func (s *Store) open(id tenant.ID, pbxID, field string, b []byte) (string, error) {
	if b == nil {
		return "", nil
	}
	v, err := s.sealer.Open(b, secretAAD(id, pbxID, field))
	if err != nil {
		return "", fmt.Errorf("%s of pbx %s: %w", field, pbxID, err)
	}
	return string(v), nil
}

func (s *Store) sealSecrets(id tenant.ID, p *tenant.PBX) (ari, ami []byte, err error) {
	if ari, err = s.seal(id, p.ID, "ari_password", p.Secrets.ARIPassword); err != nil {
		return nil, nil, err
	}
	if ami, err = s.seal(id, p.ID, "ami_secret", p.Secrets.AMISecret); err != nil {
		return nil, nil, err
	}
	return ari, ami, nil
}

// CreatePBX stores p under tenant id (p.Tenant is set to id), assigning an
// ID when empty, Version 1 and the timestamps. Secrets are sealed.
func (s *Store) CreatePBX(ctx context.Context, id tenant.ID, p *tenant.PBX) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.ID == "" {
		p.ID = tenant.NewRecordID("pbx")
	}
	if err := missing("create pbx", string(id)); err != nil {
		return err
	}
	ari, ami, err := s.sealSecrets(id, p)
	if err != nil {
		return err
	}
	now := tenant.Now()
	_, err = s.pool.Exec(ctx, `INSERT INTO pbxes (tenant, id, name, enabled, ari_url, ari_user, ari_app, ami_addr, ami_user,
			tls_ca, tls_insecure_skip_verify, ari_password, ami_secret, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14)`,
		string(id), p.ID, p.Name, p.Enabled, p.ARIURL, p.ARIUser, p.ARIApp, p.AMIAddr, p.AMIUser,
		p.TLSCA, p.TLSSkip, ari, ami, now)
	if err != nil {
		return mapErr("create pbx "+p.ID, err)
	}
	p.Tenant, p.Version, p.CreatedAt, p.UpdatedAt = id, 1, now, now
	return nil
}

// GetPBX returns one PBX without its secrets.
func (s *Store) GetPBX(ctx context.Context, id tenant.ID, pbxID string) (*tenant.PBX, error) {
	if err := missing("get pbx", string(id), pbxID); err != nil {
		return nil, err
	}
	p, err := scanPBX(s.pool.QueryRow(ctx, `SELECT `+pbxCols+` FROM pbxes WHERE tenant = $1 AND id = $2`, string(id), pbxID))
	if err != nil {
		return nil, mapErr("get pbx "+pbxID, err)
	}
	return p, nil
}

// ListPBXes returns the tenant's PBXes ordered by name then ID, without secrets.
func (s *Store) ListPBXes(ctx context.Context, id tenant.ID) ([]tenant.PBX, error) {
	if missing("", string(id)) != nil {
		return []tenant.PBX{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+pbxCols+` FROM pbxes WHERE tenant = $1
		ORDER BY name COLLATE "C", id COLLATE "C"`, string(id))
	if err != nil {
		return nil, mapErr("list pbxes", err)
	}
	out, err := collect(rows, scanPBX)
	return out, mapErr("list pbxes", err)
}

// UpdatePBX replaces the PBX's fields, keeps each secret left empty, bumps
// Version and reports Version and the timestamps back in p.
func (s *Store) UpdatePBX(ctx context.Context, id tenant.ID, p *tenant.PBX) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := missing("update pbx", string(id)); err != nil {
		return err
	}
	ari, ami, err := s.sealSecrets(id, p)
	if err != nil {
		return err
	}
	now := tenant.Now()
	var version int64
	var created time.Time
	err = s.pool.QueryRow(ctx, `UPDATE pbxes SET name = $3, enabled = $4, ari_url = $5, ari_user = $6, ari_app = $7,
			ami_addr = $8, ami_user = $9, tls_ca = $10, tls_insecure_skip_verify = $11,
			ari_password = COALESCE($12, ari_password), ami_secret = COALESCE($13, ami_secret),
			version = version + 1, updated_at = $14
		WHERE tenant = $1 AND id = $2
		RETURNING version, created_at`,
		string(id), p.ID, p.Name, p.Enabled, p.ARIURL, p.ARIUser, p.ARIApp, p.AMIAddr, p.AMIUser,
		p.TLSCA, p.TLSSkip, ari, ami, now).Scan(&version, &created)
	if err != nil {
		return mapErr("update pbx "+p.ID, err)
	}
	p.Tenant, p.Version, p.CreatedAt, p.UpdatedAt = id, version, created.UTC(), now
	return nil
}

// DeletePBX removes one PBX. Its call history stays.
func (s *Store) DeletePBX(ctx context.Context, id tenant.ID, pbxID string) error {
	if err := missing("delete pbx", string(id), pbxID); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM pbxes WHERE tenant = $1 AND id = $2`, string(id), pbxID)
	return notFoundIfNone("delete pbx "+pbxID, tag, err)
}

// PBXSecrets returns the decrypted credentials of one PBX. A value that
// does not open (wrong key, tampered row) is tenant.ErrDecrypt.
func (s *Store) PBXSecrets(ctx context.Context, id tenant.ID, pbxID string) (tenant.PBXSecrets, error) {
	if err := missing("pbx secrets", string(id), pbxID); err != nil {
		return tenant.PBXSecrets{}, err
	}
	var ari, ami []byte
	err := s.pool.QueryRow(ctx, `SELECT ari_password, ami_secret FROM pbxes WHERE tenant = $1 AND id = $2`,
		string(id), pbxID).Scan(&ari, &ami)
	if err != nil {
		return tenant.PBXSecrets{}, mapErr("pbx secrets "+pbxID, err)
	}
	var sec tenant.PBXSecrets
	if sec.ARIPassword, err = s.open(id, pbxID, "ari_password", ari); err != nil {
		return tenant.PBXSecrets{}, err
	}
	if sec.AMISecret, err = s.open(id, pbxID, "ami_secret", ami); err != nil {
		return tenant.PBXSecrets{}, err
	}
	return sec, nil
}

// AllPBXes returns the PBXes of every tenant not disabled, ordered by
// tenant, name and ID, without secrets. Disabled PBXes are included.
func (s *Store) AllPBXes(ctx context.Context) ([]tenant.PBX, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+prefixed("p.", pbxCols)+` FROM pbxes p JOIN tenants t ON t.id = p.tenant
		WHERE NOT t.disabled ORDER BY p.tenant COLLATE "C", p.name COLLATE "C", p.id COLLATE "C"`)
	if err != nil {
		return nil, mapErr("all pbxes", err)
	}
	out, err := collect(rows, scanPBX)
	return out, mapErr("all pbxes", err)
}
