package authz

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookflash/hookflash/internal/testenv"
)

func TestMemorySessionStore(t *testing.T) {
	t.Parallel()
	testSessionStore(t, func(t *testing.T, cfg SessionConfig) SessionStore { return NewMemorySessionStore(cfg) })
}

func TestRedisSessionStore(t *testing.T) {
	t.Parallel()
	testSessionStore(t, func(t *testing.T, cfg SessionConfig) SessionStore {
		c, prefix := testenv.Redis(t)
		s, err := NewRedisSessionStore(RedisSessionConfig{SessionConfig: cfg, Client: c, Prefix: prefix + ":"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// testSessionStore is the conformance suite of SessionStore. Expiry runs
// on the real clock with short timeouts, as Redis expires keys itself.
func testSessionStore(t *testing.T, newStore func(t *testing.T, cfg SessionConfig) SessionStore) {
	ctx := context.Background()

	t.Run("create get delete", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, SessionConfig{})
		tok, s, err := st.Create(ctx, "acme.example", "u1", "agent")
		if err != nil {
			t.Fatal(err)
		}
		if k, err := ParseTokenKind(tok); k != TokenSession || err != nil {
			t.Fatalf("token kind %v, %v", k, err)
		}
		if s.ID != SessionID(tok) || s.Tenant != "acme.example" || s.UserID != "u1" || s.Role != "agent" {
			t.Fatalf("created %+v", s)
		}
		if d := time.Until(s.ExpiresAt); d < 29*time.Minute || d > 31*time.Minute {
			t.Fatalf("default idle expiry %v, want 30 min", d)
		}
		got, err := st.Get(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != s.ID || got.UserID != "u1" || got.Role != "agent" || !got.CreatedAt.Equal(s.CreatedAt) {
			t.Fatalf("Get = %+v, want %+v", got, s)
		}
		if err := st.Delete(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, tok); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := st.Touch(ctx, tok); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("Touch after Delete: %v", err)
		}
		if err := st.Delete(ctx, tok); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
	})

	t.Run("bad tokens", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, SessionConfig{})
		api, _, _, _ := NewAPIToken()
		fresh, _ := newToken(SessionTokenPrefix) // well-formed, never stored
		for _, tok := range []string{"", "nope", api, fresh, fresh[:30]} {
			if _, err := st.Get(ctx, tok); !errors.Is(err, ErrSessionNotFound) {
				t.Errorf("Get(%q): %v", tok, err)
			}
		}
		if _, _, err := st.Create(ctx, "Bad Tenant", "u1", "agent"); err == nil {
			t.Error("Create with a bad tenant succeeded")
		}
		if _, _, err := st.Create(ctx, "acme.example", "", "agent"); err == nil {
			t.Error("Create without a user succeeded")
		}
	})

	t.Run("sliding idle expiry", func(t *testing.T) {
		t.Parallel()
		// Generous margins: the test machine may be heavily loaded.
		st := newStore(t, SessionConfig{IdleTimeout: time.Second})
		tok, _, err := st.Create(ctx, "acme.example", "u1", "agent")
		if err != nil {
			t.Fatal(err)
		}
		// Touching keeps it alive well past one idle timeout.
		for range 12 {
			time.Sleep(200 * time.Millisecond)
			if err := st.Touch(ctx, tok); err != nil {
				t.Fatalf("touched session ended: %v", err)
			}
		}
		// Then left alone for longer than the idle timeout, it ends. (Any
		// lookup slides the expiry, so this waits instead of polling.)
		time.Sleep(1500 * time.Millisecond)
		if _, err := st.Get(ctx, tok); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("idle session still alive: %v", err)
		}
	})

	t.Run("maximum lifetime", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, SessionConfig{IdleTimeout: time.Minute, MaxLifetime: 400 * time.Millisecond})
		tok, s, err := st.Create(ctx, "acme.example", "u1", "agent")
		if err != nil {
			t.Fatal(err)
		}
		if s.ExpiresAt.After(s.CreatedAt.Add(400 * time.Millisecond)) {
			t.Fatalf("ExpiresAt %v beyond the maximum lifetime", s.ExpiresAt)
		}
		eventually(t, 3*time.Second, "session ends at its maximum lifetime despite use", func() bool {
			_, err := st.Get(ctx, tok)
			return errors.Is(err, ErrSessionNotFound)
		})
	})

	t.Run("delete user", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, SessionConfig{})
		var ids []string
		var toks []string
		for range 3 {
			tok, s, err := st.Create(ctx, "acme.example", "u1", "agent")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID)
			toks = append(toks, tok)
		}
		other, _, _ := st.Create(ctx, "acme.example", "u2", "agent")
		sameIDOtherTenant, _, _ := st.Create(ctx, "beta.example", "u1", "agent")
		got, err := st.DeleteUser(ctx, "acme.example", "u1")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Fatalf("DeleteUser ids %v, want %v", got, ids)
		}
		for _, tok := range toks {
			if _, err := st.Get(ctx, tok); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("session survived DeleteUser: %v", err)
			}
		}
		for _, tok := range []string{other, sameIDOtherTenant} {
			if _, err := st.Get(ctx, tok); err != nil {
				t.Fatalf("DeleteUser ended another user's session: %v", err)
			}
		}
		if got, _ := st.DeleteUser(ctx, "acme.example", "u1"); len(got) != 0 {
			t.Fatalf("second DeleteUser returned %v", got)
		}
	})

	t.Run("concurrent use", func(t *testing.T) {
		t.Parallel()
		st := newStore(t, SessionConfig{})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				tok, _, err := st.Create(ctx, "acme.example", "u1", "agent")
				if err != nil {
					t.Error(err)
					return
				}
				for range 20 {
					if _, err := st.Get(ctx, tok); err != nil {
						t.Error(err)
						return
					}
				}
				if i%2 == 0 {
					_ = st.Delete(ctx, tok)
				}
			})
		}
		wg.Wait()
		ids, err := st.DeleteUser(ctx, "acme.example", "u1")
		if err != nil || len(ids) != 4 {
			t.Fatalf("DeleteUser after concurrent use: %d ids, %v (want 4)", len(ids), err)
		}
	})
}

func TestMemorySessionStoreClock(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	st := NewMemorySessionStore(SessionConfig{Now: clock})
	ctx := context.Background()
	tok, _, _ := st.Create(ctx, "acme.example", "u1", "agent")
	for range 10 { // 10 × 29 min of activity: kept alive by use
		advance(29 * time.Minute)
		if err := st.Touch(ctx, tok); err != nil {
			t.Fatalf("active session ended: %v", err)
		}
	}
	advance(31 * time.Minute)
	if _, err := st.Get(ctx, tok); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("idle session alive: %v", err)
	}
	if st.Len() != 0 {
		t.Fatalf("expired session kept: %d", st.Len())
	}
	// The periodic sweep drops sessions nobody looks up again.
	for range 300 {
		_, _, _ = st.Create(ctx, "acme.example", "u2", "agent")
	}
	advance(time.Hour)
	for range 256 {
		_, _, _ = st.Create(ctx, "acme.example", "u3", "agent")
	}
	if n := st.Len(); n > 256 {
		t.Fatalf("%d sessions after the sweep, want at most 256", n)
	}
}
