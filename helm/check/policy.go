package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// checkPolicy enforces what the chart promises operators (issue 9): a
// Deployment of 2+ replicas (or an HPA), probes on /healthz and /readyz,
// locked-down pods, and a grace period longer than preStop + drain.
func checkPolicy(objs []object) []error {
	var (
		errs    []error
		deploys []*appsv1.Deployment
		hpa     bool
	)
	for _, o := range objs {
		switch v := o.v.(type) {
		case *appsv1.Deployment:
			deploys = append(deploys, v)
		case *batchv1.Job:
			errs = append(errs, podPolicy("Job "+v.Name, &v.Spec.Template.Spec)...)
		}
		if o.Kind == "HorizontalPodAutoscaler" {
			hpa = true
		}
	}
	if len(deploys) != 1 {
		return append(errs, fmt.Errorf("want exactly one Deployment, got %d", len(deploys)))
	}
	d := deploys[0]
	where := "Deployment " + d.Name
	if hpa {
		if d.Spec.Replicas != nil {
			errs = append(errs, fmt.Errorf("%s: sets replicas although an HPA manages it", where))
		}
	} else if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		errs = append(errs, fmt.Errorf("%s: fewer than 2 replicas and no HPA", where))
	}
	pod := &d.Spec.Template.Spec
	errs = append(errs, podPolicy(where, pod)...)
	c := mainContainer(pod)
	if c == nil {
		return append(errs, fmt.Errorf("%s: no container named hookflash", where))
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		errs = append(errs, fmt.Errorf("%s: liveness probe is not GET /healthz", where))
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		errs = append(errs, fmt.Errorf("%s: readiness probe is not GET /readyz", where))
	}
	var preStop int64
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = l.PreStop.Sleep.Seconds
	} else {
		errs = append(errs, fmt.Errorf("%s: no preStop sleep (load balancers need time to stop routing)", where))
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= preStop {
		errs = append(errs, fmt.Errorf("%s: terminationGracePeriodSeconds does not exceed the preStop sleep", where))
	}
	return errs
}

func mainContainer(pod *corev1.PodSpec) *corev1.Container {
	for i := range pod.Containers {
		if pod.Containers[i].Name == "hookflash" {
			return &pod.Containers[i]
		}
	}
	return nil
}

// podPolicy: non-root, seccomp RuntimeDefault, and every container with a
// read-only root filesystem, no privilege escalation and ALL capabilities
// dropped.
func podPolicy(where string, pod *corev1.PodSpec) []error {
	var errs []error
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		errs = append(errs, fmt.Errorf("%s: pod does not set runAsNonRoot: true", where))
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errs = append(errs, fmt.Errorf("%s: pod seccomp profile is not RuntimeDefault", where))
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			errs = append(errs, fmt.Errorf("%s: container %s has no securityContext", where, c.Name))
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			errs = append(errs, fmt.Errorf("%s: container %s root filesystem is writable", where, c.Name))
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			errs = append(errs, fmt.Errorf("%s: container %s allows privilege escalation", where, c.Name))
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
			errs = append(errs, fmt.Errorf("%s: container %s does not drop ALL capabilities", where, c.Name))
		}
		if c.Resources.Requests == nil {
			errs = append(errs, fmt.Errorf("%s: container %s has no resource requests", where, c.Name))
		}
	}
	return errs
}

// checkEnvVars compares the environment the Deployment's hookflash
// container gets (env names plus the keys of ConfigMaps and Secrets it
// loads with envFrom) with want.
func checkEnvVars(objs []object, want []string) []error {
	var (
		d       *appsv1.Deployment
		configs = map[string]*corev1.ConfigMap{}
		secrets = map[string]*corev1.Secret{}
	)
	for _, o := range objs {
		switch v := o.v.(type) {
		case *appsv1.Deployment:
			d = v
		case *corev1.ConfigMap:
			configs[v.Name] = v
		case *corev1.Secret:
			secrets[v.Name] = v
		}
	}
	if d == nil {
		return []error{errors.New("env check: no Deployment")}
	}
	c := mainContainer(&d.Spec.Template.Spec)
	if c == nil {
		return []error{errors.New("env check: no container named hookflash")}
	}
	var (
		errs []error
		got  []string
	)
	for _, e := range c.Env {
		got = append(got, e.Name)
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := configs[ef.ConfigMapRef.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("env check: envFrom ConfigMap %q is not rendered by the chart", ef.ConfigMapRef.Name))
				continue
			}
			for k := range cm.Data {
				got = append(got, ef.Prefix+k)
			}
		case ef.SecretRef != nil:
			s, ok := secrets[ef.SecretRef.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("env check: envFrom Secret %q is not rendered by the chart, so its keys are unknown", ef.SecretRef.Name))
				continue
			}
			for k := range s.Data {
				got = append(got, ef.Prefix+k)
			}
			for k := range s.StringData {
				got = append(got, ef.Prefix+k)
			}
		}
	}
	slices.Sort(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			errs = append(errs, fmt.Errorf("env check: %s is set twice", got[i]))
		}
	}
	got = slices.Compact(got)
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("env check: `hookflash serve --help` documents %s but the chart does not set them", strings.Join(missing, ", ")))
	}
	if len(extra) > 0 {
		errs = append(errs, fmt.Errorf("env check: the chart sets %s, which `hookflash serve --help` does not document", strings.Join(extra, ", ")))
	}
	return errs
}
