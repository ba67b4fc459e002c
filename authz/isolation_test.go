package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
)

// TestTenantIsolationProperty builds many tenants with random policies in
// one shared Postgres table, then checks that for random principals the
// Authorizer's answers equal those of an enforcer that holds only the
// principal's own tenant's lines: nothing of another tenant leaks in, and
// nothing of the tenant's own is lost.
func TestTenantIsolationProperty(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	ctx := context.Background()
	start := time.Now()
	adapter := newPGAdapter(t)
	a, err := New(Config{Adapter: adapter})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	const nTenants, nUsers = 8, 6
	var objects []string
	for o := range objectActions {
		objects = append(objects, o)
	}
	slices.Sort(objects)
	roles := []string{RoleAdmin, RoleSupervisor, RoleAgent, RoleIntegrator, "custom"}
	policies := map[string][][]string{}
	for i := range nTenants {
		ten := fmt.Sprintf("t%d.example", i)
		lines := DefaultPolicies(ten)
		// Drop some default lines (keeping admin/*, so the policy stays
		// editable), add random grants, a custom role and role assignments,
		// all with the same subjects in every tenant.
		lines = slices.DeleteFunc(lines, func(l []string) bool { return l[3] != "admin/*" && rng.IntN(4) == 0 })
		seen := map[string]bool{}
		for _, l := range lines {
			seen[fmt.Sprint(l)] = true
		}
		add := func(l []string) {
			if !seen[fmt.Sprint(l)] {
				seen[fmt.Sprint(l)] = true
				lines = append(lines, l)
			}
		}
		add([]string{"p", "custom", ten, objects[rng.IntN(len(objects))], "*"})
		for range 10 {
			obj := objects[rng.IntN(len(objects))]
			acts := objectActions[obj]
			sub := UserSubject(fmt.Sprint(rng.IntN(nUsers)))
			if rng.IntN(3) == 0 {
				sub = TokenSubject(fmt.Sprint(rng.IntN(nUsers)))
			}
			add([]string{"p", sub, ten, obj, acts[rng.IntN(len(acts))]})
		}
		for range 3 {
			add([]string{"g", UserSubject(fmt.Sprint(rng.IntN(nUsers))), roles[rng.IntN(len(roles))], ten})
		}
		if err := a.SetPolicies(ctx, ten, lines); err != nil {
			t.Fatalf("tenant %s: %v", ten, err)
		}
		policies[ten] = lines
	}

	t.Logf("policies stored after %v", time.Since(start))
	refs := map[string]*casbin.Enforcer{}
	for ten, lines := range policies {
		e, err := scratchEnforcer(lines)
		if err != nil {
			t.Fatal(err)
		}
		refs[ten] = e
	}
	for range 150 {
		ten := fmt.Sprintf("t%d.example", rng.IntN(nTenants))
		uid := fmt.Sprint(rng.IntN(nUsers))
		p := Principal{Tenant: ten, Subject: UserSubject(uid), Role: roles[rng.IntN(len(roles))], UserID: uid}
		if rng.IntN(3) == 0 {
			p = Principal{Tenant: ten, Subject: TokenSubject(uid), Role: roles[rng.IntN(len(roles))]}
		}
		ref := refs[ten]
		want, err := compileGrants(func(obj, act string) (bool, error) {
			for _, sub := range []string{p.Subject, p.Role} {
				if ok, err := ref.Enforce(sub, ten, obj, act); ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		full := rng.IntN(2) == 0
		got, err := a.Scope(p, full)
		wantScope, wantErr := want.scope(p, full)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%+v full=%v: err %v, want %v", p, full, err, wantErr)
		}
		if err == nil && !got.Equal(wantScope) {
			t.Fatalf("%+v: scope %v, want %v (from the tenant's own lines only)", p, got, wantScope)
		}
		obj := objects[rng.IntN(len(objects))]
		act := objectActions[obj][0]
		refOK, _ := ref.Enforce(p.Subject, ten, obj, act)
		if !refOK {
			refOK, _ = ref.Enforce(p.Role, ten, obj, act)
		}
		if a.Can(p, obj, act) != refOK {
			t.Fatalf("%+v Can(%s, %s) = %v, want %v", p, obj, act, !refOK, refOK)
		}
	}
}
