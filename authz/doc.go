// Package authz decides who a caller is and what it may see and do.
//
// Identity: API tokens ("hfk_…") and session tokens ("hfs_…") are 256-bit
// random strings with a checksum, stored only as SHA-256 (NewAPIToken,
// HashToken, ParseTokenKind). ParseCredentials reads Bearer, ?token= and
// Basic domain:token; NormalizeLogin makes one principal of "alice",
// "alice@acme.example" and "1001". PasswordHasher does argon2id;
// SessionStore (MemorySessionStore, RedisSessionStore) keeps sessions with
// sliding idle expiry; LoginLimiter throttles logins.
//
// Authorization: casbin (RBAC with domains, one domain per tenant) holds
// the policy, stored through an Adapter (MemoryAdapter, PGAdapter over the
// casbin_rule table). The Authorizer keeps one enforcer per tenant, loaded
// by domain filter and rebuilt when a Bus message (MemoryBus, RedisBus)
// says the tenant's policy changed. When a connection opens or a policy
// changes, the Authorizer compiles a Scope; the per-event path evaluates
// only the Scope (Visible, Masked, MayCommand), never casbin.
//
// The Bus also carries identity invalidations (token revoked, session
// ended, user changed) so every replica closes the affected sockets.
//
// Privacy: Mask and Masker hide phone numbers for principals without
// privacy/bypass.
//
// Locks: each type's mutex guards only its own fields, and no method holds
// one lock while taking another. Bus handlers and Authorizer.OnChange
// listeners are called with no lock held, so they may call back in.
//
// authz imports nothing of Hookflash's; callers pass tenant ids as strings
// (tenant.ID values) and user/token ids as they are stored.
package authz
