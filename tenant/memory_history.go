package tenant

import (
	"context"
	"fmt"
	"sort"
)

// AppendAudit appends e, assigning ID (increasing across the store) and At
// when zero. A tenant entry needs an existing tenant (ErrNotFound).
func (s *MemoryStore) AppendAudit(_ context.Context, e *AuditEntry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var mt *memTenant
	if e.Tenant != "" {
		var err error
		if mt, err = s.tenant(e.Tenant); err != nil {
			return err
		}
	}
	if e.At.IsZero() {
		e.At = Now()
	}
	e.At = Normalize(e.At)
	s.auditSeq++
	e.ID = s.auditSeq
	if mt != nil {
		mt.audit = append(mt.audit, *e)
	} else {
		s.audit = append(s.audit, *e)
	}
	return nil
}

// ListAudit returns the newest entries of tenant id first (the empty ID
// lists platform-level entries); limit defaults to 100, at most 1000.
func (s *MemoryStore) ListAudit(_ context.Context, id ID, limit int) ([]AuditEntry, error) {
	limit = auditLimit(limit)
	s.mu.RLock()
	defer s.mu.RUnlock()
	src := s.audit
	if id != "" {
		mt, ok := s.tenants[id]
		if !ok {
			return []AuditEntry{}, nil
		}
		src = mt.audit
	}
	n := min(limit, len(src))
	out := make([]AuditEntry, 0, n)
	for i := len(src) - 1; i >= len(src)-n; i-- {
		out = append(out, src[i])
	}
	return out, nil
}

func auditLimit(limit int) int {
	switch {
	case limit <= 0:
		return auditLimitDef
	case limit > auditLimitMax:
		return auditLimitMax
	}
	return limit
}

func copyCall(c *Call) Call {
	o := *c
	o.Users = append(make([]string, 0, len(c.Users)), c.Users...)
	o.AnsweredAt = clonePtr(c.AnsweredAt)
	return o
}

// RecordCall stores c unless a call with the same (tenant, PBX, linked id)
// exists, in which case it does nothing and returns nil. The tenant must
// exist (ErrNotFound). When the tenant holds MemoryCallLimit calls, the
// oldest is dropped.
func (s *MemoryStore) RecordCall(_ context.Context, c *Call) error {
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(c.Tenant)
	if err != nil {
		return err
	}
	k := callKey{pbx: c.PBX, linked: c.LinkedID}
	if _, ok := mt.calls[k]; ok {
		return nil
	}
	n := copyCall(c)
	n.StartedAt, n.EndedAt, n.AnsweredAt = Normalize(n.StartedAt), Normalize(n.EndedAt), normalizePtr(n.AnsweredAt)
	mt.calls[k] = &n
	mt.insertHistory(&n)
	if len(mt.history) > s.callLimit {
		old := mt.history[0]
		delete(mt.calls, callKey{pbx: old.PBX, linked: old.LinkedID})
		mt.history[0] = nil
		mt.history = mt.history[1:]
	}
	return nil
}

// insertHistory puts c in place in the oldest-first history. Calls mostly
// end in order, so the common case is an append.
func (mt *memTenant) insertHistory(c *Call) {
	h := mt.history
	if len(h) == 0 || CallLess(c, h[len(h)-1]) {
		mt.history = append(h, c)
		return
	}
	// First position holding a call newer than c.
	i := sort.Search(len(h), func(i int) bool { return CallLess(h[i], c) })
	h = append(h, nil)
	copy(h[i+1:], h[i:])
	h[i] = c
	mt.history = h
}

// ListCalls returns one page of the tenant's history matching q, in the
// order CallQuery documents, and the cursor of the next page ("" on the
// last page). A malformed cursor is ErrInvalid. It walks the history from
// the cursor backwards, so a page costs the rows it skips over, not a sort.
func (s *MemoryStore) ListCalls(_ context.Context, id ID, q CallQuery) ([]Call, string, error) {
	q, cur, err := q.Normalize()
	if err != nil {
		return nil, "", fmt.Errorf("list calls: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, ok := s.tenants[id]
	if !ok {
		return []Call{}, "", nil
	}
	h := mt.history
	end := len(h) // rows h[:end] come after the cursor
	if cur != nil {
		end = sort.Search(len(h), func(i int) bool { return !cur.Precedes(h[i]) })
	}
	out := make([]Call, 0, min(q.Limit, end))
	more := false
	for i := end - 1; i >= 0; i-- {
		c := h[i]
		if !q.From.IsZero() && c.EndedAt.Before(q.From) {
			break // older rows only from here on
		}
		if !q.Matches(c) {
			continue
		}
		if len(out) == q.Limit {
			more = true
			break
		}
		out = append(out, copyCall(c))
	}
	next := ""
	if more {
		next = CursorAfter(&out[len(out)-1])
	}
	return out, next, nil
}
