package authz

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// Adapter stores the policy lines of every tenant. It is a casbin adapter
// (auto-save, batches, filtered loading of one domain) plus the whole-domain
// operations the Authorizer needs. Implementations: MemoryAdapter (single
// node) and PGAdapter; both pass one conformance suite. Safe for concurrent
// use.
//
// A line is {ptype, v0, …}: {"p", sub, dom, obj, act} or {"g", member, role,
// dom}. Loaded lines carry no trailing empty fields.
type Adapter interface {
	persist.FilteredAdapter
	persist.BatchAdapter
	// LoadDomain returns every line of one domain in insertion order.
	LoadDomain(ctx context.Context, domain string) ([][]string, error)
	// ReplaceDomain atomically replaces every line of one domain.
	ReplaceDomain(ctx context.Context, domain string, lines [][]string) error
	// InitDomain stores lines only when the domain has none yet, atomically
	// with that check; it reports whether it stored them.
	InitDomain(ctx context.Context, domain string, lines [][]string) (bool, error)
}

// Filter selects the lines of one domain in LoadFilteredPolicy: p lines
// whose v1 is Domain and g lines whose v2 is Domain. Pass Filter or *Filter.
type Filter struct{ Domain string }

// filterDomain extracts the domain of a casbin filter argument.
func filterDomain(f any) (string, bool, error) {
	switch v := f.(type) {
	case nil:
		return "", false, nil
	case Filter:
		return v.Domain, true, nil
	case *Filter:
		if v == nil {
			return "", false, nil
		}
		return v.Domain, true, nil
	}
	return "", false, fmt.Errorf("authz: adapter filter must be authz.Filter, got %T", f)
}

// row is one stored line padded to the table's columns: ptype, v0..v5.
type row [7]string

func toRow(ptype string, rule []string) (row, error) {
	var r row
	if ptype == "" {
		return r, fmt.Errorf("%w: empty ptype", ErrInvalidPolicy)
	}
	if len(rule) > 6 {
		return r, fmt.Errorf("%w: %d values, at most 6 fit a casbin_rule row", ErrInvalidPolicy, len(rule))
	}
	r[0] = ptype
	copy(r[1:], rule)
	return r, nil
}

func lineToRow(l []string) (row, error) {
	if len(l) == 0 {
		return row{}, fmt.Errorf("%w: empty line", ErrInvalidPolicy)
	}
	return toRow(l[0], l[1:])
}

// line returns the row without trailing empty values.
func (r row) line() []string {
	n := len(r)
	for n > 1 && r[n-1] == "" {
		n--
	}
	return slices.Clone(r[:n])
}

// domain returns the domain a row belongs to (v1 of p lines, v2 of g lines).
func (r row) domain() string {
	switch {
	case strings.HasPrefix(r[0], "p"):
		return r[2]
	case strings.HasPrefix(r[0], "g"):
		return r[3]
	}
	return ""
}

// matches reports whether r has ptype and the non-empty values at index.
func (r row) matches(ptype string, fieldIndex int, values []string) bool {
	if r[0] != ptype {
		return false
	}
	for i, v := range values {
		j := 1 + fieldIndex + i
		if v == "" {
			continue
		}
		if j >= len(r) || r[j] != v {
			return false
		}
	}
	return true
}

// loadRows feeds rows into a casbin model, skipping duplicates.
func loadRows(m model.Model, rows []row) error {
	for _, r := range rows {
		if err := persist.LoadPolicyArray(r.line(), m); err != nil {
			return fmt.Errorf("authz: load policy line %v: %w", r.line(), err)
		}
	}
	return nil
}

// modelRows lists every line of a casbin model as rows.
func modelRows(m model.Model) ([]row, error) {
	var out []row
	for _, sec := range []string{"p", "g"} {
		for ptype, ast := range m[sec] {
			for _, rule := range ast.Policy {
				r, err := toRow(ptype, rule)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// MemoryAdapter keeps policy lines in memory: the single-node Adapter.
type MemoryAdapter struct {
	mu   sync.Mutex // guards rows
	rows []row
}

var _ Adapter = (*MemoryAdapter)(nil)

// NewMemoryAdapter returns an empty MemoryAdapter.
func NewMemoryAdapter() *MemoryAdapter { return &MemoryAdapter{} }

// LoadPolicy loads every line of every domain.
func (a *MemoryAdapter) LoadPolicy(m model.Model) error {
	a.mu.Lock()
	rows := slices.Clone(a.rows)
	a.mu.Unlock()
	return loadRows(m, rows)
}

// LoadFilteredPolicy loads the lines of the domain named by filter (a
// Filter), or everything when filter is nil.
func (a *MemoryAdapter) LoadFilteredPolicy(m model.Model, filter any) error {
	dom, ok, err := filterDomain(filter)
	if err != nil {
		return err
	}
	if !ok {
		return a.LoadPolicy(m)
	}
	a.mu.Lock()
	var rows []row
	for _, r := range a.rows {
		if r.domain() == dom {
			rows = append(rows, r)
		}
	}
	a.mu.Unlock()
	return loadRows(m, rows)
}

// IsFiltered reports true: enforcers over a shared Adapter hold one domain
// each, so casbin must never SavePolicy from one (it would erase the other
// domains) nor load everything when an enforcer is built.
func (a *MemoryAdapter) IsFiltered() bool { return true }

// SavePolicy replaces every stored line with the model's.
func (a *MemoryAdapter) SavePolicy(m model.Model) error {
	rows, err := modelRows(m)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.rows = rows
	a.mu.Unlock()
	return nil
}

// AddPolicy stores one line; storing an existing line is a no-op.
func (a *MemoryAdapter) AddPolicy(_ string, ptype string, rule []string) error {
	return a.AddPolicies("", ptype, [][]string{rule})
}

// AddPolicies stores lines; existing lines are skipped.
func (a *MemoryAdapter) AddPolicies(_ string, ptype string, rules [][]string) error {
	rows := make([]row, 0, len(rules))
	for _, rule := range rules {
		r, err := toRow(ptype, rule)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rows {
		if !slices.Contains(a.rows, r) {
			a.rows = append(a.rows, r)
		}
	}
	return nil
}

// RemovePolicy deletes one line; a missing line is not an error.
func (a *MemoryAdapter) RemovePolicy(_ string, ptype string, rule []string) error {
	return a.RemovePolicies("", ptype, [][]string{rule})
}

// RemovePolicies deletes lines.
func (a *MemoryAdapter) RemovePolicies(_ string, ptype string, rules [][]string) error {
	drop := make([]row, 0, len(rules))
	for _, rule := range rules {
		r, err := toRow(ptype, rule)
		if err != nil {
			return err
		}
		drop = append(drop, r)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rows = slices.DeleteFunc(a.rows, func(r row) bool { return slices.Contains(drop, r) })
	return nil
}

// RemoveFilteredPolicy deletes the lines of ptype whose values from
// fieldIndex on equal fieldValues (empty values match anything).
func (a *MemoryAdapter) RemoveFilteredPolicy(_ string, ptype string, fieldIndex int, fieldValues ...string) error {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > 6 {
		return fmt.Errorf("%w: filter index %d with %d values out of range", ErrInvalidPolicy, fieldIndex, len(fieldValues))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rows = slices.DeleteFunc(a.rows, func(r row) bool { return r.matches(ptype, fieldIndex, fieldValues) })
	return nil
}

// LoadDomain returns the lines of one domain.
func (a *MemoryAdapter) LoadDomain(_ context.Context, domain string) ([][]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out [][]string
	for _, r := range a.rows {
		if r.domain() == domain {
			out = append(out, r.line())
		}
	}
	return out, nil
}

// ReplaceDomain replaces the lines of one domain. Every line must belong to
// domain.
func (a *MemoryAdapter) ReplaceDomain(_ context.Context, domain string, lines [][]string) error {
	rows, err := domainRows(domain, lines)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rows = slices.DeleteFunc(a.rows, func(r row) bool { return r.domain() == domain })
	for _, r := range rows {
		if !slices.Contains(a.rows, r) {
			a.rows = append(a.rows, r)
		}
	}
	return nil
}

// InitDomain stores lines when domain has none.
func (a *MemoryAdapter) InitDomain(_ context.Context, domain string, lines [][]string) (bool, error) {
	rows, err := domainRows(domain, lines)
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.rows {
		if r.domain() == domain {
			return false, nil
		}
	}
	for _, r := range rows {
		if !slices.Contains(a.rows, r) {
			a.rows = append(a.rows, r)
		}
	}
	return true, nil
}

// domainRows converts lines and checks each belongs to domain.
func domainRows(domain string, lines [][]string) ([]row, error) {
	if domain == "" {
		return nil, fmt.Errorf("%w: empty domain", ErrInvalidTenant)
	}
	rows := make([]row, 0, len(lines))
	for i, l := range lines {
		r, err := lineToRow(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if r.domain() != domain {
			return nil, fmt.Errorf("%w: line %d belongs to domain %q, not %q", ErrInvalidPolicy, i+1, r.domain(), domain)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
