package main

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// recursionMax bounds nested include calls of one name, as Helm's engine does.
const recursionMax = 1000

// funcMap is Helm's: sprig's text functions without env and expandenv, plus Helm's own.
// include, tpl and required are bound to a template set in initFuncs.
func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toToml": func(interface{}) (string, error) {
			return "", errors.New("toToml is not supported by this renderer")
		},
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"include":       func(string, interface{}) string { return "not implemented" },
		"tpl":           func(string, interface{}) interface{} { return "not implemented" },
		"required":      func(string, interface{}) (interface{}, error) { return "not implemented", nil },
		// helm template has no cluster: lookup finds nothing.
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// renderable is a template's text, the values it is executed with and its base path.
type renderable struct {
	tpl      string
	vals     map[string]interface{}
	basePath string
}

// engine renders a chart's templates as Helm's pkg/engine does (not strict: a missing
// key renders as nothing).
type engine struct{}

// renderChart executes every template of the chart that is not a partial (a base name
// starting with `_`) with top-level values top and returns the output by template name.
func renderChart(c *Chart, top map[string]interface{}) (map[string]string, error) {
	tpls := map[string]renderable{}
	basePath := path.Join(c.Metadata.Name, "templates")
	for name, text := range c.Templates {
		vals := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			vals[k] = v
		}
		tpls[name] = renderable{tpl: text, vals: vals, basePath: basePath}
	}
	return engine{}.render(tpls, tpls)
}

func (e engine) render(tpls, referenceTpls map[string]renderable) (rendered map[string]string, err error) {
	// text/template panics on some bad input (Helm recovers likewise).
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	t := template.New("gotpl").Option("missingkey=zero")
	e.initFuncs(t, referenceTpls)
	// The templates of tpls and the references they may include, parsed into one set.
	keys := sortTemplates(tpls)
	refKeys := sortTemplates(referenceTpls)
	for _, name := range refKeys {
		if _, ok := tpls[name]; ok {
			continue
		}
		if _, err := t.New(name).Parse(referenceTpls[name].tpl); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}
	for _, name := range keys {
		if _, err := t.New(name).Parse(tpls[name].tpl); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}
	rendered = make(map[string]string, len(keys))
	for _, name := range keys {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		r := tpls[name]
		r.vals["Template"] = map[string]interface{}{"Name": name, "BasePath": r.basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, r.vals); err != nil {
			return nil, cleanupExecError(name, err)
		}
		// Go prints "<no value>" for a missing key even with missingkey=zero.
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return rendered, nil
}

func (e engine) initFuncs(t *template.Template, referenceTpls map[string]renderable) {
	funcs := funcMap()
	includedNames := map[string]int{}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if includedNames[name] > recursionMax {
			return "", fmt.Errorf("unable to execute template: rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, vals map[string]interface{}) (string, error) {
		tmpl, _ := vals["Template"].(map[string]interface{})
		name, ok1 := tmpl["Name"].(string)
		basePath, ok2 := tmpl["BasePath"].(string)
		if !ok1 || !ok2 {
			return "", fmt.Errorf("cannot retrieve Template.Name and Template.BasePath from values inside tpl function: %s", text)
		}
		result, err := e.render(map[string]renderable{name: {tpl: text, vals: vals, basePath: basePath}}, referenceTpls)
		if err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return result[name], nil
	}
	funcs["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	funcs["fail"] = func(msg string) (string, error) {
		return "", errors.New(msg)
	}
	t.Funcs(funcs)
}

// sortTemplates orders names as Helm does: deepest paths first, then reverse
// lexicographic (later definitions of a `define` win).
func sortTemplates(tpls map[string]renderable) []string {
	keys := make([]string, 0, len(tpls))
	for k := range tpls {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca == cb {
			return a > b
		}
		return ca > cb
	})
	return keys
}

var execErrorAt = regexp.MustCompile(`^template: (\S+:\d+:\d+): executing "[^"]*" at <[^>]*>: (?:error calling \w+: )?`)

// cleanupParseError and cleanupExecError shorten text/template's errors as Helm does.
func cleanupParseError(name string, err error) error {
	msg := err.Error()
	parts := strings.SplitN(msg, ": ", 3)
	if len(parts) == 3 {
		return fmt.Errorf("parse error at (%s): %s", strings.TrimPrefix(parts[1], "template: "), parts[2])
	}
	return fmt.Errorf("parse error in %q: %s", name, msg)
}

func cleanupExecError(name string, err error) error {
	msg := err.Error()
	if m := execErrorAt.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("rendering %s: %s", name, msg)
}
