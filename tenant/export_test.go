package tenant

// SetCallLimit lowers the per-tenant history limit of s, so tests can reach it.
func SetCallLimit(s *MemoryStore, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callLimit = n
}
