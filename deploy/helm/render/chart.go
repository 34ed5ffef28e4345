package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Metadata is Chart.yaml, with the field names templates see as .Chart (Helm's
// chart.Metadata).
type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []Maintainer      `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

// Maintainer is one entry of Chart.yaml's maintainers.
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Chart is what rendering needs of a chart directory.
type Chart struct {
	Metadata *Metadata
	Values   map[string]interface{}
	// Templates by name as Helm names them: "<chart>/templates/<path>".
	Templates map[string]string
}

var releaseName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// validateReleaseName applies Helm's rule (a DNS-1123 subdomain of at most 53 bytes).
func validateReleaseName(name string) error {
	if len(name) > 53 || !releaseName.MatchString(name) {
		return fmt.Errorf("invalid release name %q: must be a lowercase DNS-1123 subdomain of at most 53 characters", name)
	}
	return nil
}

// loadChart reads Chart.yaml, values.yaml and templates/ of a chart directory and refuses
// what this renderer does not implement.
func loadChart(dir string) (*Chart, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	var md Metadata
	if err := sigsUnmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if err := validateMetadata(&md); err != nil {
		return nil, fmt.Errorf("validation: chart.metadata %w", err)
	}
	for _, unsupported := range []string{"charts", "crds", "requirements.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, unsupported)); err == nil {
			return nil, fmt.Errorf("%s: %s is not supported by this renderer (no subcharts, no CRDs; it is not Helm)", dir, unsupported)
		}
	}
	if len(md.Dependencies) > 0 {
		return nil, fmt.Errorf("%s: Chart.yaml has dependencies: subcharts are not supported by this renderer", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "values.schema.json")); err == nil {
		return nil, fmt.Errorf("%s: values.schema.json is not supported by this renderer", dir)
	}
	values := map[string]interface{}{}
	if data, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if values, err = readValues(data); err != nil {
			return nil, fmt.Errorf("values.yaml: %w", err)
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	templates := map[string]string{}
	root := filepath.Join(dir, "templates")
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		text, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		templates[path.Join(md.Name, filepath.ToSlash(rel))] = string(text)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("loading templates: %w", err)
	}
	return &Chart{Metadata: &md, Values: values, Templates: templates}, nil
}

// validateMetadata is the part of Helm's Metadata.Validate a renderer needs.
func validateMetadata(md *Metadata) error {
	switch {
	case md.APIVersion == "":
		return fmt.Errorf("apiVersion is required")
	case md.APIVersion != "v1" && md.APIVersion != "v2":
		return fmt.Errorf("apiVersion %q is not valid", md.APIVersion)
	case md.Name == "":
		return fmt.Errorf("name is required")
	case md.Name != filepath.Base(md.Name) || strings.ContainsAny(md.Name, `/\`):
		return fmt.Errorf("name %q is not valid", md.Name)
	case md.Version == "":
		return fmt.Errorf("version is required")
	}
	if _, err := semver.StrictNewVersion(md.Version); err != nil {
		return fmt.Errorf("version %q is invalid", md.Version)
	}
	switch md.Type {
	case "", "application":
	case "library":
		return fmt.Errorf("type library: a library chart is not installable")
	default:
		return fmt.Errorf("type %q: chart type is not valid", md.Type)
	}
	return nil
}

// mergeMaps merges b over a as Helm merges several -f files: maps key by key, anything
// else replaced.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if v, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k]; ok {
				if bv, ok := bv.(map[string]interface{}); ok {
					out[k] = mergeMaps(bv, v)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

// coalesceValues puts the chart's defaults under the user's values as Helm's
// chartutil.CoalesceValues does: the user's value wins, maps are coalesced key by key,
// and a user's null deletes the chart's default.
func coalesceValues(chartValues, user map[string]interface{}) map[string]interface{} {
	v := deepCopy(user).(map[string]interface{})
	coalesceTables(v, deepCopy(chartValues).(map[string]interface{}), "")
	return v
}

func coalesceTables(dst, src map[string]interface{}, prefix string) {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		val := src[key]
		dv, ok := dst[key]
		switch {
		case ok && dv == nil:
			delete(dst, key)
		case !ok:
			dst[key] = val
		default:
			sm, srcTable := val.(map[string]interface{})
			dm, dstTable := dv.(map[string]interface{})
			if srcTable && dstTable {
				coalesceTables(dm, sm, prefix+key+".")
			} else if srcTable && !dstTable {
				fmt.Fprintf(os.Stderr, "coalesce.go: warning: cannot overwrite table with non table for %s%s (%v)\n", prefix, key, val)
			}
		}
	}
}

func deepCopy(v interface{}) interface{} {
	switch v := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// checkKubeVersion refuses a Kubernetes version outside Chart.yaml's kubeVersion, as
// Helm does.
func checkKubeVersion(md *Metadata, caps *Capabilities) error {
	if md.KubeVersion == "" {
		return nil
	}
	c, err := semver.NewConstraint(md.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml: kubeVersion %q: %w", md.KubeVersion, err)
	}
	v, err := semver.NewVersion(caps.KubeVersion.Version)
	if err != nil || !c.Check(v) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", md.KubeVersion, caps.KubeVersion.Version)
	}
	return nil
}
