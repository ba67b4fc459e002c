// Package migrations owns the Postgres schema of Hookflash: goose SQL
// migrations embedded in the binary, applied by `hookflash migrate` and at
// `serve` start.
//
// Up holds a Postgres session advisory lock while it works, so any number of
// replicas starting at once apply each migration exactly once: the first takes
// the lock and migrates, the others wait for it and then find nothing to do.
// The package imports nothing of Hookflash's.
package migrations
