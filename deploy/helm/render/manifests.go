package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v2"
)

// manifest is one YAML document of a rendered template, as helm template prints it.
type manifest struct {
	name    string // the template's name: "<chart>/templates/<file>"
	content string
	kind    string
}

// installOrder is Helm's releaseutil.InstallOrder: kinds listed here come out in this
// order, others after them (by kind name), each kind in the order rendered.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

// docSeparator is releaseutil.SplitManifests' separator.
var docSeparator = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

// splitManifests is releaseutil.SplitManifests: documents trimmed, empty ones dropped.
func splitManifests(text string) []string {
	var out []string
	for _, d := range docSeparator.Split(strings.TrimSpace(text), -1) {
		if d == "" {
			continue
		}
		out = append(out, strings.TrimSpace(d))
	}
	return out
}

// sortManifests is releaseutil.SortManifests for charts without hooks: files by name,
// documents in file order, then stably by kind in install order. NOTES.txt is left out.
func sortManifests(rendered map[string]string) ([]manifest, error) {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []manifest
	for _, name := range names {
		content := rendered[name]
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range splitManifests(content) {
			var head struct {
				Version  string `yaml:"apiVersion"`
				Kind     string `yaml:"kind"`
				Metadata *struct {
					Name        string            `yaml:"name"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			if head.Metadata != nil {
				if _, ok := head.Metadata.Annotations["helm.sh/hook"]; ok {
					return nil, fmt.Errorf("%s: %s %s is a hook (helm.sh/hook): hooks are not supported by this renderer", name, head.Kind, head.Metadata.Name)
				}
			}
			out = append(out, manifest{name: name, content: doc, kind: head.Kind})
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, aok := rank[out[i].kind]
		b, bok := rank[out[j].kind]
		switch {
		case !aok && !bok:
			return out[i].kind < out[j].kind
		case !aok:
			return false
		case !bok:
			return true
		}
		return a < b
	})
	return out, nil
}

// Capabilities is .Capabilities: the Kubernetes version and API versions helm template
// assumes without a cluster.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

// String is the version ("v1.29.0").
func (kv *KubeVersion) String() string { return kv.Version }

// GitVersion is the version (deprecated in Helm, kept for templates).
func (kv *KubeVersion) GitVersion() string { return kv.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has says whether an API version ("apps/v1") or resource ("apps/v1/Deployment") is known.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// defaultKubeVersion is the Kubernetes version of helm template without --kube-version
// (Helm 3.14's, from its client-go).
const defaultKubeVersion = "v1.29.0"

// defaultAPIVersions are the API versions the chart's objects use, all served by every
// Kubernetes the chart supports (Helm lists every built-in version of its client-go).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1",
	"policy/v1", "networking.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apiextensions.k8s.io/v1", "autoscaling/v2", "storage.k8s.io/v1", "scheduling.k8s.io/v1",
	"events.k8s.io/v1", "admissionregistration.k8s.io/v1",
}

var kubeVersionPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?$`)

func capabilities(kubeVersion string, apiVersions []string) (*Capabilities, error) {
	m := kubeVersionPattern.FindStringSubmatch(kubeVersion)
	if m == nil {
		return nil, fmt.Errorf("invalid kube version %q: expected vMAJOR.MINOR[.PATCH]", kubeVersion)
	}
	patch := m[3]
	if patch == "" {
		patch = ".0"
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return &Capabilities{
		KubeVersion: KubeVersion{Version: fmt.Sprintf("v%d.%d%s", major, minor, patch), Major: m[1], Minor: m[2]},
		APIVersions: append(append(VersionSet{}, defaultAPIVersions...), apiVersions...),
		HelmVersion: map[string]string{"version": "v3.14.0"},
	}, nil
}
