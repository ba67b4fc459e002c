package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// checkReadme reports every value of the chart's values.yaml that its
// README's values table does not document. A row documents a value by
// naming it in backquotes (`a.b.c`), or a whole subtree as `a.b.*`; maps
// whose content is free-form (resources, annotations, …) are documented as
// a whole by naming the map itself.
func checkReadme(valuesPath, readmePath string) []error {
	vb, err := os.ReadFile(valuesPath)
	if err != nil {
		return []error{err}
	}
	rb, err := os.ReadFile(readmePath)
	if err != nil {
		return []error{err}
	}
	var values map[string]any
	if err := yaml.Unmarshal(vb, &values); err != nil {
		return []error{fmt.Errorf("%s: %w", valuesPath, err)}
	}
	readme := string(rb)
	documented := func(key string) bool {
		return strings.Contains(readme, "`"+key+"`") || strings.Contains(readme, "`"+key+".*`")
	}
	var missing []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			if documented(key) {
				continue
			}
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(key+".", sub)
				continue
			}
			missing = append(missing, key)
		}
	}
	walk("", values)
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return []error{fmt.Errorf("%s does not document these values of %s: %s", readmePath, valuesPath, strings.Join(missing, ", "))}
}
