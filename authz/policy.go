package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2"
)

// Bounds of one tenant's policy, enforced by ValidatePolicies.
const (
	MaxPolicyLines = 2000
	maxFieldLen    = 256
)

// ValidatePolicies checks a tenant's complete policy before it is saved and
// returns the first problem as an ErrInvalidPolicy naming the line (1-based).
//
// A line is {"p", subject, domain, object, action} or
// {"g", member, role, domain}. Rules: only ptypes p and g; every domain is
// tenant (no cross-domain lines); subjects are role names or "user:<id>" /
// "token:<id>"; objects and actions come from the catalog (a trailing "*"
// in an object covers the catalog entries it prefixes, action "*" every
// action); a role given in a g line must be granted something by a p line
// or inherit from another role; no duplicates; at most MaxPolicyLines lines
// of fields up to 256 bytes. The set must keep admin/policies write for at
// least one role, so a tenant cannot lock itself out of its policies.
func ValidatePolicies(tenant string, lines [][]string) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if len(lines) > MaxPolicyLines {
		return fmt.Errorf("%w: %d lines, at most %d allowed", ErrInvalidPolicy, len(lines), MaxPolicyLines)
	}
	seen := make(map[string]int, len(lines))
	definedRoles := map[string]bool{}
	type roleRef struct {
		role string
		line int
	}
	var groupRoles []roleRef
	for i, l := range lines {
		n := i + 1
		if len(l) == 0 {
			return fmt.Errorf("%w: line %d is empty", ErrInvalidPolicy, n)
		}
		for j, f := range l {
			if f == "" {
				return fmt.Errorf("%w: line %d: field %d is empty", ErrInvalidPolicy, n, j+1)
			}
			if len(f) > maxFieldLen {
				return fmt.Errorf("%w: line %d: field %d is longer than %d bytes", ErrInvalidPolicy, n, j+1, maxFieldLen)
			}
			if strings.TrimSpace(f) != f || strings.ContainsAny(f, ",\n\r\t\"") {
				return fmt.Errorf("%w: line %d: field %d %q holds spaces, commas or quotes", ErrInvalidPolicy, n, j+1, f)
			}
		}
		key := strings.Join(l, ",")
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("%w: line %d duplicates line %d", ErrInvalidPolicy, n, prev)
		}
		seen[key] = n

		switch l[0] {
		case "p":
			if len(l) != 5 {
				return fmt.Errorf("%w: line %d: a p line is [p, subject, domain, object, action], got %d fields", ErrInvalidPolicy, n, len(l))
			}
			sub, dom, obj, act := l[1], l[2], l[3], l[4]
			if dom != tenant {
				return fmt.Errorf("%w: line %d: domain %q is not this tenant (%q)", ErrInvalidPolicy, n, dom, tenant)
			}
			switch {
			case isRoleName(sub):
				definedRoles[sub] = true
			case isPrincipalSubject(sub):
			default:
				return fmt.Errorf("%w: line %d: subject %q is neither a role name nor user:<id> / token:<id>", ErrInvalidPolicy, n, sub)
			}
			if err := checkObjectAction(obj, act); err != nil {
				return fmt.Errorf("%w: line %d: %v", ErrInvalidPolicy, n, err)
			}
		case "g":
			if len(l) != 4 {
				return fmt.Errorf("%w: line %d: a g line is [g, member, role, domain], got %d fields", ErrInvalidPolicy, n, len(l))
			}
			member, role, dom := l[1], l[2], l[3]
			if dom != tenant {
				return fmt.Errorf("%w: line %d: domain %q is not this tenant (%q)", ErrInvalidPolicy, n, dom, tenant)
			}
			if !isRoleName(member) && !isPrincipalSubject(member) {
				return fmt.Errorf("%w: line %d: member %q is neither a role name nor user:<id> / token:<id>", ErrInvalidPolicy, n, member)
			}
			if !isRoleName(role) {
				return fmt.Errorf("%w: line %d: %q is not a role name", ErrInvalidPolicy, n, role)
			}
			if member == role {
				return fmt.Errorf("%w: line %d: role %q cannot inherit from itself", ErrInvalidPolicy, n, role)
			}
			if isRoleName(member) {
				definedRoles[member] = true // a role inheriting another exists
			}
			groupRoles = append(groupRoles, roleRef{role, n})
		default:
			return fmt.Errorf("%w: line %d: unknown line type %q (want p or g)", ErrInvalidPolicy, n, l[0])
		}
	}
	for _, r := range groupRoles {
		if !definedRoles[r.role] {
			return fmt.Errorf("%w: line %d: role %q does not exist (no p line grants it anything)", ErrInvalidPolicy, r.line, r.role)
		}
	}

	// Build the policy in a scratch enforcer: casbin must accept it, and
	// some role must keep the right to edit policies.
	e, err := scratchEnforcer(lines)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	for role := range definedRoles {
		ok, err := e.Enforce(role, tenant, ObjAdminPolicies, ActWrite)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%w: no role keeps %s %s; the tenant would be locked out of its policies", ErrInvalidPolicy, ObjAdminPolicies, ActWrite)
}

// checkObjectAction accepts a catalog object or a prefix pattern ending in
// "*" that covers at least one catalog object, with an action valid for
// (one of) the covered objects, or "*".
func checkObjectAction(obj, act string) error {
	var actions []string
	if i := strings.IndexByte(obj, '*'); i >= 0 {
		if i != len(obj)-1 {
			return fmt.Errorf("object %q: '*' is only allowed at the end", obj)
		}
		prefix := obj[:i]
		for o, acts := range objectActions {
			if strings.HasPrefix(o, prefix) {
				actions = append(actions, acts...)
			}
		}
		if actions == nil {
			return fmt.Errorf("object pattern %q matches no known object", obj)
		}
	} else {
		acts, ok := objectActions[obj]
		if !ok {
			return fmt.Errorf("unknown object %q (see docs/security.md for the catalog)", obj)
		}
		actions = acts
	}
	if act == "*" || slices.Contains(actions, act) {
		return nil
	}
	return fmt.Errorf("action %q is not valid for object %q", act, obj)
}

// scratchEnforcer builds an in-memory enforcer holding lines (no adapter).
func scratchEnforcer(lines [][]string) (*casbin.Enforcer, error) {
	m, err := newModel()
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		if err := m.AddPolicy(l[0], l[0], l[1:]); err != nil {
			return nil, err
		}
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, err
	}
	if err := e.BuildRoleLinks(); err != nil {
		return nil, err
	}
	return e, nil
}
