package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument describes both query APIs as db serve answers them
// (OpenAPI 3.1). openapi_test.go requests every path it lists from a real
// server and validates each answer against its schemas.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves GET /openapi.json. It holds no data, so it takes no
// credentials and spends no rate.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	_, _ = w.Write(openAPIDocument)
}
