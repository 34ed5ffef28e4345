// Command render prints what `helm template NAME CHART` prints for Kelp's chart, without
// Helm: Helm's template engine is Go's text/template with the sprig function library,
// and this program puts the same pieces together the way Helm's pkg/engine,
// pkg/chartutil and pkg/releaseutil do (see README.md for what it does and does not do).
//
//	render [--namespace NS] [-f values.yaml]... [--kube-version v1.29.0] NAME CHART
//
// Built in GOPATH mode against Debian's Go packages (no network):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render .
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `usage: render [--namespace NS] [-f VALUES]... [--kube-version VERSION]
              [--api-versions GROUP/VERSION]... NAME CHART
Prints the chart's manifests as "helm template NAME CHART" does.`

// options are helm template's flags this renderer knows.
type options struct {
	name        string
	chartDir    string
	namespace   string
	valueFiles  []string
	kubeVersion string
	apiVersions []string
}

func parseArgs(args []string) (options, error) {
	o := options{namespace: "default", kubeVersion: defaultKubeVersion}
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		takes := map[string]*string{"--namespace": &o.namespace, "-n": &o.namespace, "--kube-version": &o.kubeVersion}
		lists := map[string]*[]string{"-f": &o.valueFiles, "--values": &o.valueFiles, "--api-versions": &o.apiVersions, "-a": &o.apiVersions}
		if name == "-h" || name == "--help" {
			return o, fmt.Errorf("%s", usage)
		}
		if !hasValue {
			if i+1 >= len(args) {
				return o, fmt.Errorf("flag %s needs a value\n%s", name, usage)
			}
			i++
			value = args[i]
		}
		if p, ok := takes[name]; ok {
			*p = value
		} else if p, ok := lists[name]; ok {
			// Helm accepts -f a.yaml,b.yaml too.
			*p = append(*p, strings.Split(value, ",")...)
		} else {
			return o, fmt.Errorf("unknown flag %s (this is not Helm: see deploy/helm/render/README.md)\n%s", name, usage)
		}
	}
	if len(positional) != 2 {
		return o, fmt.Errorf("expected NAME and CHART, got %d arguments\n%s", len(positional), usage)
	}
	o.name, o.chartDir = positional[0], positional[1]
	if err := validateReleaseName(o.name); err != nil {
		return o, err
	}
	return o, nil
}

func run(args []string, out io.Writer) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	chart, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	user := map[string]interface{}{}
	for _, f := range o.valueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("values file: %w", err)
		}
		vals, err := readValues(data)
		if err != nil {
			return fmt.Errorf("values file %s: %w", f, err)
		}
		user = mergeMaps(user, vals)
	}
	caps, err := capabilities(o.kubeVersion, o.apiVersions)
	if err != nil {
		return err
	}
	if err := checkKubeVersion(chart.Metadata, caps); err != nil {
		return err
	}
	top := map[string]interface{}{
		"Chart":        chart.Metadata,
		"Capabilities": caps,
		"Release": map[string]interface{}{
			"Name":      o.name,
			"Namespace": o.namespace,
			"IsUpgrade": false,
			"IsInstall": true,
			"Revision":  1,
			"Service":   "Helm",
		},
		"Values": coalesceValues(chart.Values, user),
	}
	rendered, err := renderChart(chart, top)
	if err != nil {
		return err
	}
	manifests, err := sortManifests(rendered)
	if err != nil {
		return err
	}
	for _, m := range manifests {
		if _, err := fmt.Fprintf(out, "---\n# Source: %s\n%s\n", m.name, m.content); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
