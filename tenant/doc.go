// Package tenant owns the durable records of Hookflash: tenants (one per
// customer domain), their PBX connections, users with their terminals,
// integrator API tokens, the audit log and the call history.
//
// Store is the one seam to persistence. It has two implementations that pass
// one conformance suite (package tenant/storetest): MemoryStore for the
// embedded single-node mode and the Postgres store in package
// tenant/pgstore. Every method that touches tenant data takes the tenant ID
// and filters by it; there is no way to read or change another tenant's rows
// through a Store. Input is checked by the Validate methods, shared by both
// stores so they accept and refuse the same values.
//
// PBX secrets (ARI password, AMI secret) are write-only: reads return PBX
// values with the secret fields empty, and only PBXSecrets (used by the
// connectors) returns them. The Postgres store keeps them encrypted with
// AES-256-GCM (see Sealer), each bound to its tenant, PBX and field.
package tenant
