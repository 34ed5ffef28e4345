package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v2"
)

// Helm reads and writes YAML through sigs.k8s.io/yaml, which goes through JSON: YAML is
// decoded with go-yaml v2, turned into JSON, and decoded again with encoding/json (so
// every number becomes a float64, as in Helm's .Values); writing is json.Marshal (keys
// sorted), then go-yaml v2 reads that JSON and writes it as YAML. These functions do the
// same with Debian's gopkg.in/yaml.v2 (2.4.0, the version Helm 3 builds with).

// sigsUnmarshal is sigs.k8s.io/yaml.Unmarshal.
func sigsUnmarshal(data []byte, out interface{}) error {
	j, err := yamlToJSON(data)
	if err != nil {
		return fmt.Errorf("error converting YAML to JSON: %w", err)
	}
	if err := json.Unmarshal(j, out); err != nil {
		return fmt.Errorf("error unmarshaling JSON: %w", err)
	}
	return nil
}

// sigsMarshal is sigs.k8s.io/yaml.Marshal.
func sigsMarshal(v interface{}) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("error marshaling into JSON: %w", err)
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return nil, fmt.Errorf("error converting JSON to YAML: %w", err)
	}
	return yaml.Marshal(obj)
}

// yamlToJSON is sigs.k8s.io/yaml.YAMLToJSON (without its target-type hints, which
// unmarshaling into interface{} and map[string]interface{} does not use).
func yamlToJSON(data []byte) ([]byte, error) {
	var obj interface{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	conv, err := jsonable(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(conv); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonable turns go-yaml's map[interface{}]interface{} into JSON objects, with keys as
// sigs.k8s.io/yaml writes them.
func jsonable(v interface{}) (interface{}, error) {
	switch v := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(v))
		for k, e := range v {
			var key string
			switch k := k.(type) {
			case string:
				key = k
			case int, int64, uint64, float64, bool:
				key = fmt.Sprint(k)
			case nil:
				key = "null"
			default:
				return nil, fmt.Errorf("unsupported map key of type %T: %v", k, k)
			}
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, e := range v {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// readValues is chartutil.ReadValues: a YAML mapping (empty text: no values).
func readValues(data []byte) (map[string]interface{}, error) {
	vals := map[string]interface{}{}
	if len(bytes.TrimSpace(data)) == 0 {
		return vals, nil
	}
	if err := sigsUnmarshal(data, &vals); err != nil {
		return nil, err
	}
	if vals == nil {
		vals = map[string]interface{}{}
	}
	return vals, nil
}

// The YAML and JSON functions Helm adds to sprig's (pkg/engine/funcs.go).

func toYAML(v interface{}) string {
	data, err := sigsMarshal(v)
	if err != nil {
		// Swallow errors inside of a template, as Helm does.
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := sigsUnmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := sigsUnmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := make(map[string]interface{})
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(str string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}
