package hub

// Filter decides what one session sees. It is evaluated for every event on
// the fan-out path, so implementations must be precomputed (authz.Scope
// implements it from a casbin decision made when the connection opened or
// its policy changed), cheap, and safe for concurrent use; a session's
// Filter is replaced as a whole with Session.SetFilter, never mutated.
type Filter interface {
	// Visible reports whether an event of element kind with this audience
	// (the user ids it concerns; empty for tenant-wide elements) may be
	// shown. Elements a session may not see at all return false.
	Visible(element string, audience []string) bool
	// Masked reports whether phone numbers are masked for this session
	// (Config.Mask is applied to its copy of each event).
	Masked() bool
}

// filterBox lets an atomic.Pointer hold any Filter.
type filterBox struct{ f Filter }
