package pgstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookflash/hookflash/internal/testenv"
	"github.com/hookflash/hookflash/migrations"
	"github.com/hookflash/hookflash/tenant"
	"github.com/hookflash/hookflash/tenant/pgstore"
	"github.com/hookflash/hookflash/tenant/storetest"
)

func newSealer(t testing.TB) *tenant.Sealer {
	t.Helper()
	key := make([]byte, tenant.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := tenant.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// migratedURL returns a fresh, migrated test database.
func migratedURL(t *testing.T) string {
	t.Helper()
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := migrations.Up(ctx, url, nil); err != nil {
		t.Fatalf("migrations.Up: %v", err)
	}
	return url
}

func open(t *testing.T, url string, sealer *tenant.Sealer) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := pgstore.New(ctx, pgstore.Config{URL: url, Sealer: sealer, MaxConns: 8})
	if err != nil {
		t.Fatalf("pgstore.New: %v", err)
	}
	return s
}

// TestConformance runs the shared suite. All subtests share one migrated
// database (creating one per subtest costs seconds); the suite keeps them
// apart with random tenants, and each subtest gets its own pool.
func TestConformance(t *testing.T) {
	url := migratedURL(t)
	sealer := newSealer(t)
	storetest.Run(t, func(t *testing.T) tenant.Store { return open(t, url, sealer) })
}

// TestSecretsSealedAtRest reads the pbxes table directly: the secret
// columns hold neither the plaintext nor anything that opens under another
// key, and a ciphertext moved to another PBX does not open.
func TestSecretsSealedAtRest(t *testing.T) {
	url := migratedURL(t)
	sealer := newSealer(t)
	s := open(t, url, sealer)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	id := tenant.ID("sealed.example")
	if err := s.CreateTenant(ctx, &tenant.Tenant{ID: id}); err != nil {
		t.Fatal(err)
	}
	const ariPass, amiSecret = "ari-plaintext-Secret", "ami-plaintext-Secret"
	mk := func(name string) *tenant.PBX {
		return &tenant.PBX{Name: name, ARIURL: "http://pbx:8088/ari", AMIAddr: "pbx:5038",
			Secrets: tenant.PBXSecrets{ARIPassword: ariPass, AMISecret: amiSecret}}
	}
	p, q := mk("one"), mk("two")
	for _, x := range []*tenant.PBX{p, q} {
		if err := s.CreatePBX(ctx, id, x); err != nil {
			t.Fatal(err)
		}
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ari, ami []byte
	if err := conn.QueryRow(ctx, `SELECT ari_password, ami_secret FROM pbxes WHERE tenant = $1 AND id = $2`,
		string(id), p.ID).Scan(&ari, &ami); err != nil {
		t.Fatal(err)
	}
	for name, ct := range map[string][]byte{"ari_password": ari, "ami_secret": ami} {
		if len(ct) == 0 {
			t.Fatalf("%s column is empty", name)
		}
		for _, pt := range []string{ariPass, amiSecret, strings.ToLower(ariPass), "plaintext"} {
			if bytes.Contains(ct, []byte(pt)) {
				t.Errorf("%s column contains plaintext %q", name, pt)
			}
		}
	}
	// Nothing in the row's text form gives the secrets away either.
	var row string
	if err := conn.QueryRow(ctx, `SELECT p::text FROM pbxes p WHERE tenant = $1 AND id = $2`, string(id), p.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, "plaintext") {
		t.Errorf("row text holds a plaintext secret: %s", row)
	}

	// Copy p's ciphertexts onto q: they are bound to p and must not open.
	if _, err := conn.Exec(ctx, `UPDATE pbxes SET ari_password = $3 WHERE tenant = $1 AND id = $2`, string(id), q.ID, ari); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PBXSecrets(ctx, id, q.ID); !errors.Is(err, tenant.ErrDecrypt) {
		t.Errorf("PBXSecrets with a ciphertext moved from another PBX: %v, want ErrDecrypt", err)
	}
	// The right key opens p; another key does not.
	if sec, err := s.PBXSecrets(ctx, id, p.ID); err != nil || sec.ARIPassword != ariPass || sec.AMISecret != amiSecret {
		t.Errorf("PBXSecrets = %+v, %v", sec, err)
	}
	other := open(t, url, newSealer(t))
	defer other.Close()
	if _, err := other.PBXSecrets(ctx, id, p.ID); !errors.Is(err, tenant.ErrDecrypt) {
		t.Errorf("PBXSecrets under another key: %v, want ErrDecrypt", err)
	}
}

func TestNewErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sealer := newSealer(t)
	tests := []struct {
		name string
		cfg  pgstore.Config
		want string
	}{
		{"no url", pgstore.Config{Sealer: sealer}, "empty"},
		{"no sealer", pgstore.Config{URL: "postgres://127.0.0.1/x"}, "openssl rand -hex 32"},
		{"bad url", pgstore.Config{URL: "::bad", Sealer: sealer}, "parse"},
		{"unreachable", pgstore.Config{URL: "postgres://127.0.0.1:1/x?connect_timeout=2", Sealer: sealer}, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pgstore.New(ctx, tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	t.Run("behind", func(t *testing.T) {
		url := migratedURL(t)
		if err := migrations.Down(ctx, url, nil); err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.New(ctx, pgstore.Config{URL: url, Sealer: sealer})
		if err == nil {
			s.Close()
			t.Fatal("New on a database one migration behind succeeded")
		}
		if !strings.Contains(err.Error(), "migrate up") {
			t.Errorf("error %q does not say to run the migrations", err)
		}
	})
	t.Run("unmigrated", func(t *testing.T) {
		s, err := pgstore.New(ctx, pgstore.Config{URL: testenv.Postgres(t), Sealer: sealer})
		if err == nil {
			s.Close()
			t.Fatal("New on an empty database succeeded")
		}
		if !strings.Contains(err.Error(), "migrate up") {
			t.Errorf("error %q does not say to run the migrations", err)
		}
	})
}
