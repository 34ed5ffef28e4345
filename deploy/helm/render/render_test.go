package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart makes a chart directory from file name → text.
func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	base := map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n",
	}
	for k, v := range files {
		base[k] = v
	}
	for name, text := range base {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func renderArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(args, &out)
	return out.String(), err
}

// What Helm does with the features Kelp's chart uses, each checked on its exact output.
func TestRendersAsHelmDoes(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml": "name: base\nbig: 17179869184\nlist: [b, a]\nnested:\n  keep: 1\n  drop: 2\n" +
			"text: \"{{ .Release.Name }}-{{ .Values.name }}\"\n",
		"templates/_helpers.tpl": `{{- define "demo.labels" -}}
app: {{ .Chart.Name }}
chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}`,
		// Three documents (a comment-only one is kept, as Helm keeps it; a.yaml renders
		// empty and is dropped), and a ConfigMap after a Service in the file.
		"templates/b.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
  labels:
    {{- include "demo.labels" . | nindent 4 }}
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
  namespace: {{ .Release.Namespace }}
data:
  tpl: {{ tpl .Values.text . | quote }}
  big: {{ .Values.big | quote }}
  missing: "{{ .Values.nothing }}"
  template: {{ .Template.Name }}
  kube: {{ .Capabilities.KubeVersion.Version }}
  apps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}
  app: {{ .Chart.AppVersion | quote }}
  install: {{ .Release.IsInstall | quote }}
  fromyaml: {{ (fromYaml "a: 1").a | quote }}
  lookup: {{ lookup "v1" "Secret" "ns" "x" | len | quote }}
  values: |
    {{- toYaml .Values.nested | nindent 4 }}
  list: {{ toJson .Values.list }}
`,
		"templates/a.yaml":    "{{- if .Values.off }}\nkind: Secret\n{{- end }}\n",
		"templates/NOTES.txt": "Thanks for installing {{ .Release.Name }}\n",
	})
	over := filepath.Join(t.TempDir(), "over.yaml")
	os.WriteFile(over, []byte("name: over\nnested:\n  drop: null\n  add: x\n"), 0o644)
	out, err := renderArgs(t, "rel", dir, "--namespace", "ns1", "-f", over)
	if err != nil {
		t.Fatal(err)
	}
	want := `---
# Source: demo/templates/b.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: rel-cm
  namespace: ns1
data:
  tpl: "rel-over"
  big: "1.7179869184e+10"
  missing: ""
  template: demo/templates/b.yaml
  kube: v1.29.0
  apps: "true"
  app: "4.5"
  install: "true"
  fromyaml: "1"
  lookup: "0"
  values: |
    add: x
    keep: 1
  list: ["b","a"]
---
# Source: demo/templates/b.yaml
apiVersion: v1
kind: Service
metadata:
  name: rel
  labels:
    app: demo
    chart: demo-1.2.3
---
# Source: demo/templates/b.yaml
# only a comment
`
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestMergesValuesFilesInOrder(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml":      "a: {x: 1, w: 2}\nb: [1]\n",
		"templates/c.yaml": "kind: ConfigMap\ndata: {{ toJson .Values }}\n",
	})
	tmp := t.TempDir()
	one, two := filepath.Join(tmp, "1.yaml"), filepath.Join(tmp, "2.yaml")
	os.WriteFile(one, []byte("a: {x: 10, z: 3}\nb: [2, 3]\n"), 0o644)
	os.WriteFile(two, []byte("a: {z: 30}\n"), 0o644)
	out, err := renderArgs(t, "r", dir, "-f", one, "--values="+two)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `data: {"a":{"w":2,"x":10,"z":30},"b":[2,3]}`) {
		t.Fatal(out)
	}
}

// Errors, each with a message naming the cause, never a panic.
func TestRefusesWhatItCannotRender(t *testing.T) {
	cases := []struct {
		files map[string]string
		args  []string
		want  string
	}{
		{map[string]string{"templates/r.yaml": `x: {{ required "image.tag is required" .Values.tag }}`},
			nil, "execution error at (demo/templates/r.yaml:1:6): image.tag is required"},
		{map[string]string{"templates/r.yaml": `x: {{ fail "no" }}`}, nil, "no"},
		{map[string]string{"templates/r.yaml": `x: {{ .Values.a `}, nil, "parse error at (demo/templates/r.yaml:1)"},
		{map[string]string{"templates/r.yaml": `x: {{ include "nope" . }}`}, nil, `no template "nope"`},
		{map[string]string{"templates/r.yaml": `x: {{ env "HOME" }}`}, nil, `function "env" not defined`},
		{map[string]string{"templates/r.yaml": "a: [\n"}, nil, "YAML parse error on demo/templates/r.yaml"},
		{map[string]string{"templates/r.yaml": "kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: post-install\n"},
			nil, "hooks are not supported"},
		{map[string]string{"charts/sub/Chart.yaml": "name: sub\n"}, nil, "charts is not supported"},
		{map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: one\n"}, nil, `version "one" is invalid`},
		{map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\nkubeVersion: '>=1.30.0-0'\n"},
			nil, "incompatible with Kubernetes v1.29.0"},
		{map[string]string{"values.yaml": "a: [\n"}, nil, "values.yaml"},
		{map[string]string{}, []string{"--set", "a=1"}, "unknown flag --set"},
		{map[string]string{}, []string{"--namespace"}, "needs a value"},
		{map[string]string{"templates/r.yaml": `{{ define "l" }}{{ include "l" . }}{{ end }}{{ include "l" . }}`},
			nil, "nested reference name: l"},
	}
	for _, c := range cases {
		dir := writeChart(t, c.files)
		args := append([]string{"r", dir}, c.args...)
		_, err := renderArgs(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: got %v, want an error containing %q", c.files, c.args, err, c.want)
		}
	}
	if _, err := renderArgs(t, "Bad_Name", writeChart(t, nil)); err == nil || !strings.Contains(err.Error(), "invalid release name") {
		t.Errorf("release name: %v", err)
	}
	if _, err := renderArgs(t, "r", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "Chart.yaml") {
		t.Errorf("no chart: %v", err)
	}
}

// Helm's install order: kinds in InstallOrder, unknown kinds last by name, each kind in
// file then document order.
func TestSortsByInstallOrder(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/a.yaml": "kind: Zeta\nmetadata: {name: z}\n---\nkind: Deployment\nmetadata: {name: d1}\n",
		"templates/b.yaml": "kind: Alpha\nmetadata: {name: a}\n---\nkind: Deployment\nmetadata: {name: d2}\n---\nkind: Namespace\nmetadata: {name: n}\n",
	})
	out, err := renderArgs(t, "r", dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "metadata:") {
			order = append(order, line)
		}
	}
	got := strings.Join(order, ";")
	want := "metadata: {name: n};metadata: {name: d1};metadata: {name: d2};metadata: {name: a};metadata: {name: z}"
	if got != want {
		t.Fatalf("got %s", got)
	}
}
