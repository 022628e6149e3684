//go:build goexperiment.jsonv2

package cof

import jsonv2 "encoding/json/v2"

func init() {
	stdCodecs = append(stdCodecs, stdCodec{"encoding-json-v2",
		func(b []byte, v any) error { return jsonv2.Unmarshal(b, v) },
		func(v any) ([]byte, error) { return jsonv2.Marshal(v) }})
}
